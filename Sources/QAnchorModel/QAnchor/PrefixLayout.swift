/// The prefix as the manifest lays it out, resolved to positions: token ids (literal text tokenised by the backbone
/// tokenizer, special tokens), summary-token slots and modality-block slots.
///
/// The prefix never depends on the scenario. Its leading run of tokens (`preamble`, up to the first user-dependent
/// position) is the same for every user and is prefilled once per process. Immutable.
struct PrefixLayout: Sendable {
    enum Item: Sendable, Equatable {
        case token(Int32)
        /// Summary token i: 0 = user, 1… = modalities in manifest order.
        case summary(Int)
        /// Slot `slot` of a modality's block.
        case event(modality: String, slot: Int)
    }

    let items: [Item]
    /// Count of leading `.token` items.
    let preambleLength: Int

    /// Resolves a manifest that passed `BundleManifest.validate(backboneTokenizer:)` (one summary segment, one
    /// block per modality, every special token known).
    init(manifest: BundleManifest, tokenizer: any TextTokenizer) throws(QAnchorModelError) {
        func special(_ token: String) throws(QAnchorModelError) -> Int32 {
            guard let id = tokenizer.id(forToken: token) else {
                throw .bundle(file: BundleManifest.fileName, problem: "'\(token)' is not a token of the backbone tokenizer")
            }
            return Int32(id)
        }
        var items: [Item] = []
        for segment in manifest.layout {
            switch segment {
            case .text(let text):
                items += tokenizer.encode(text).map { .token(Int32($0)) }
            case .special(let token):
                items.append(.token(try special(token)))
            case .summary:
                items += (0...manifest.modalities.count).map { .summary($0) }
            case .modality(let name):
                guard let m = manifest.modality(named: name) else {
                    throw .bundle(file: BundleManifest.fileName, problem: "the layout names unknown modality '\(name)'")
                }
                items.append(.token(try special(m.startToken)))
                items += (0..<m.slotCount).map { .event(modality: name, slot: $0) }
                items.append(.token(try special(m.endToken)))
            }
        }
        self.items = items
        preambleLength = items.firstIndex { if case .token = $0 { return false } else { return true } } ?? items.count
    }

    var count: Int { items.count }

    /// The preamble as decoder input items.
    var preamble: [DecoderInputItem] {
        items[..<preambleLength].map { if case .token(let id) = $0 { return .token(id) } else { return .token(0) } }
    }

    /// Rows of ``userPart(_:modelWidth:)`` that are padding: slots at or after a modality's count of real events.
    func paddingRows(_ tokens: UserTokens) -> Set<Int> {
        var rows: Set<Int> = []
        for (row, item) in items[preambleLength...].enumerated() {
            if case .event(let modality, let slot) = item, slot >= tokens.valid[modality] ?? 0 { rows.insert(row) }
        }
        return rows
    }

    /// The user-dependent rest of the prefix (after the preamble) as decoder input items.
    func userPart(_ tokens: UserTokens, modelWidth d: Int) -> [DecoderInputItem] {
        items[preambleLength...].map { item in
            switch item {
            case .token(let id): return .token(id)
            case .summary(let i): return .vector(Array(tokens.summary[i * d..<(i + 1) * d]))
            case .event(let modality, let slot):
                let block = tokens.blocks[modality]!
                return .vector(Array(block[slot * d..<(slot + 1) * d]))
            }
        }
    }
}
