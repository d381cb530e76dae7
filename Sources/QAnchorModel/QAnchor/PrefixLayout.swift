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

    init(manifest: BundleManifest, tokenizer: any TextTokenizer, manifestPath: String) throws(QAnchorModelError) {
        func special(_ token: String, _ role: String) throws(QAnchorModelError) -> Int32 {
            guard let id = tokenizer.id(forToken: token) else {
                throw .bundle(file: manifestPath, problem: "\(role) '\(token)' is not a token of the backbone tokenizer")
            }
            return Int32(id)
        }
        var items: [Item] = []
        var sawSummary = false
        var blocks = Set<String>()
        for (index, segment) in manifest.layout.enumerated() {
            switch segment.kind {
            case .text:
                items += tokenizer.encode(segment.text ?? "").map { .token(Int32($0)) }
            case .special:
                items.append(.token(try special(segment.token ?? "", "layout[\(index)] token")))
            case .summary:
                guard !sawSummary else { throw .bundle(file: manifestPath, problem: "layout[\(index)]: a second summary segment") }
                sawSummary = true
                items += (0...manifest.modalities.count).map { .summary($0) }
            case .modality:
                guard let name = segment.modality, let m = manifest.modalities.first(where: { $0.name == name }) else {
                    throw .bundle(file: manifestPath, problem: "layout[\(index)] names modality '\(segment.modality ?? "")', which the manifest does not define")
                }
                guard blocks.insert(name).inserted else {
                    throw .bundle(file: manifestPath, problem: "layout[\(index)]: modality '\(name)' appears twice")
                }
                items.append(.token(try special(m.startToken, "start token of '\(name)'")))
                items += (0..<m.slotCount).map { .event(modality: name, slot: $0) }
                items.append(.token(try special(m.endToken, "end token of '\(name)'")))
            }
        }
        guard sawSummary else { throw .bundle(file: manifestPath, problem: "the layout has no summary segment") }
        let missing = manifest.modalities.map(\.name).filter { !blocks.contains($0) }
        guard missing.isEmpty else {
            throw .bundle(file: manifestPath, problem: "the layout has no block for modality '\(missing[0])'")
        }
        self.items = items
        preambleLength = items.firstIndex { if case .token = $0 { return false } else { return true } } ?? items.count
    }

    var count: Int { items.count }

    /// The preamble as decoder input items.
    var preamble: [DecoderInputItem] {
        items[..<preambleLength].map { if case .token(let id) = $0 { return .token(id) } else { return .token(0) } }
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
