import Foundation

/// Byte-level BPE tokenizer configured like Qwen2's `tokenizer.json`, with token ids identical to the
/// Hugging Face `tokenizers` library.
///
/// Pipeline for `encode` (the library's order):
/// 1. added tokens with `normalized: false` (all of Qwen2's, e.g. `<|im_start|>`, `<|user_emb|>`) are found
///    in the raw text and emitted whole — never split, never normalized;
/// 2. each text piece between them is normalized as the file declares (NFC or nothing), then searched for
///    added tokens with `normalized: true`;
/// 3. each remaining piece is split by Qwen2's regex (`Qwen2PreTokenizer`), each split becomes its UTF-8
///    bytes, and the bytes are merged by rank (`BPEModel`).
/// No post-processor tokens are added (Qwen2's post-processor is `ByteLevel`, which only trims offsets).
///
/// Supported `tokenizer.json` shape (anything else is a `TokenizerError.unsupported`): normalizer null or
/// NFC; pre-tokenizer `Sequence[Split(Qwen2 regex, Isolated), ByteLevel(add_prefix_space: false,
/// use_regex: false)]`; model BPE without dropout, byte fallback or sub-word prefix/suffix.
///
/// Input: a Swift `String`, which is always valid Unicode. Bytes that may be invalid UTF-8 go through
/// `encode(utf8:)`, which replaces each maximal invalid subsequence with U+FFFD (as Python's
/// `bytes.decode("utf-8", "replace")` does); U+FFFD then encodes as its three bytes EF BF BD.
///
/// Immutable after loading (apart from an internal, locked merge cache); `Sendable`, safe to share
/// between threads.
public struct BPETokenizer: TextTokenizer {
    /// The added tokens of the file, in file order.
    public var addedTokens: [AddedToken] { added.tokens }
    /// One more than the largest token id (vocabulary and added tokens).
    public let vocabularySize: Int

    let model: BPEModel
    let normalizesNFC: Bool
    let added: AddedTokenSet

    /// Loads a `tokenizer.json` whose model is BPE.
    public init(contentsOf url: URL) throws(TokenizerError) {
        try self.init(file: TokenizerFile.read(url))
    }

    /// Parses a `tokenizer.json` held in memory; `source` names it in errors.
    public init(data: Data, source: String) throws(TokenizerError) {
        try self.init(file: TokenizerFile.parse(data, source: source))
    }

    init(file: TokenizerFile) throws(TokenizerError) {
        let root = file.root
        let modelObject = try root.object("model")
        let type = try modelObject.string("type")
        guard type == "BPE" else {
            throw .unsupported(file: file.file, key: "model.type", found: "model type '\(type)' for a BPE tokenizer")
        }
        try Self.validateModelOptions(modelObject)
        normalizesNFC = try Self.parseNormalizer(root)
        try Self.validatePreTokenizer(root)
        try Self.validatePostProcessor(root)
        model = try Self.parseModel(file, modelObject)

        let nfc = normalizesNFC
        added = AddedTokenSet(try file.addedTokens()) { nfc ? CanonicalNormalization.nfc($0) : Array($0) }
        vocabularySize = max(model.tokens.count, added.largestID + 1)
    }

    // MARK: Encoding

    /// Token ids of `text`.
    public func encode(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int] = []
        out.reserveCapacity(scalars.count / 2 + 1)
        var bytes: [UInt8] = []
        let nfc = normalizesNFC
        added.split(scalars, normalize: { nfc ? CanonicalNormalization.nfc($0) : Array($0) },
                    token: { out.append($0) }, text: { encodeText($0, bytes: &bytes, into: &out) })
        return out
    }

    /// Pre-tokenizes normalized text without added tokens and appends the BPE ids of each piece.
    private func encodeText(_ text: ArraySlice<Unicode.Scalar>, bytes: inout [UInt8], into out: inout [Int]) {
        Qwen2PreTokenizer.split(text) { range in
            bytes.removeAll(keepingCapacity: true)
            for s in text[range] { UTF8.encode(s) { bytes.append($0) } }
            model.tokenize(bytes, into: &out)
        }
    }

    // MARK: Decoding and lookup

    /// The text of `ids`, as the library's ByteLevel decoder gives it: each vocabulary token's bytes, added
    /// tokens as their text (through the same byte mapping), invalid UTF-8 replaced with U+FFFD. Unknown ids
    /// are skipped; special added tokens are skipped when `skipSpecialTokens`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            let text: String
            if let added = added.token(id: id) {
                if added.special && skipSpecialTokens { continue }
                text = added.content
            } else if let t = token(forID: id) {
                text = t
            } else {
                continue
            }
            switch ByteLevelAlphabet.bytes(of: text) {
            case .success(let b): bytes.append(contentsOf: b)
            case .failure: bytes.append(contentsOf: Array(text.utf8))
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The token string of `id` (byte-level form for vocabulary tokens, e.g. `Ġthe`; the text of added
    /// tokens), or nil.
    public func token(forID id: Int) -> String? {
        if let added = added.token(id: id) { return added.content }
        guard id >= 0, id < model.tokens.count else { return nil }
        return model.tokens[id]
    }

    /// The id of a token string (byte-level form, or an added token's text), or nil.
    public func id(forToken token: String) -> Int? {
        if let id = added.id(content: token) { return id }
        guard case .success(let bytes) = ByteLevelAlphabet.bytes(of: token), let id = model.idsByBytes[bytes] else {
            return nil
        }
        return Int(id)
    }

    // MARK: Loading

    private static func parseNormalizer(_ root: TokenizerJSON) throws(TokenizerError) -> Bool {
        guard let normalizer = try root.optionalObject("normalizer") else { return false }
        let type = try normalizer.string("type")
        if type == "NFC" { return true }
        if type == "Sequence", (try normalizer.array("normalizers")).isEmpty { return false }
        throw .unsupported(file: root.file, key: "normalizer.type",
                           found: "normalizer '\(type)' for a BPE tokenizer (supported: NFC or none)")
    }

    private static func validatePreTokenizer(_ root: TokenizerJSON) throws(TokenizerError) {
        let expected = "Sequence[Split(Qwen2 regex, Isolated), ByteLevel(add_prefix_space: false, use_regex: false)]"
        let pre = try root.object("pre_tokenizer")
        func unsupported(_ what: String) -> TokenizerError {
            .unsupported(file: root.file, key: pre.path, found: "pre-tokenizer: \(what); expected \(expected)")
        }
        guard try pre.string("type") == "Sequence" else { throw unsupported("type \(TokenizerFile.componentName(pre))") }
        let steps = try pre.array("pretokenizers")
        guard steps.count == 2 else { throw unsupported("\(steps.count) steps") }
        let splitJSON = try pre.element(steps[0], of: "pretokenizers", at: 0)
        let byteJSON = try pre.element(steps[1], of: "pretokenizers", at: 1)
        guard try splitJSON.string("type") == "Split" else { throw unsupported("first step \(TokenizerFile.componentName(splitJSON))") }
        let pattern = try splitJSON.object("pattern")
        guard let regex = pattern.object["Regex"]?.stringValue, regex == Qwen2PreTokenizer.pattern else {
            throw unsupported("split pattern \((pattern.object["Regex"] ?? pattern.object["String"] ?? .null).kindDescription)")
        }
        guard try splitJSON.string("behavior") == "Isolated", !(try splitJSON.optionalBool("invert", default: false) ?? false) else {
            throw unsupported("split behavior other than Isolated, or inverted")
        }
        guard try byteJSON.string("type") == "ByteLevel" else { throw unsupported("second step \(TokenizerFile.componentName(byteJSON))") }
        guard !(try byteJSON.optionalBool("add_prefix_space", default: false) ?? false),
              !(try byteJSON.optionalBool("use_regex", default: true) ?? true) else {
            throw unsupported("ByteLevel with add_prefix_space or use_regex")
        }
    }

    private static func validatePostProcessor(_ root: TokenizerJSON) throws(TokenizerError) {
        guard let post = try root.optionalObject("post_processor") else { return }
        let type = try post.string("type")
        guard type == "ByteLevel" else {
            throw .unsupported(file: root.file, key: "post_processor.type",
                               found: "post-processor '\(type)' for a BPE tokenizer (supported: ByteLevel or none)")
        }
    }

    private static func validateModelOptions(_ model: TokenizerJSON) throws(TokenizerError) {
        if !model.isNull("dropout") {
            throw .unsupported(file: model.file, key: "model.dropout", found: "BPE dropout (non-deterministic)")
        }
        if try model.optionalBool("byte_fallback", default: false) ?? false {
            throw .unsupported(file: model.file, key: "model.byte_fallback", found: "byte fallback")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = try model.optionalString(key), !s.isEmpty {
                throw .unsupported(file: model.file, key: "model.\(key)", found: "'\(s)' in a byte-level BPE")
            }
        }
    }

    private static func parseModel(_ file: TokenizerFile, _ model: TokenizerJSON) throws(TokenizerError) -> BPEModel {
        let vocab = try file.vocabulary()
        let size = (vocab.values.max() ?? -1) + 1
        var tokens = [String?](repeating: nil, count: size)
        var idsByBytes: [[UInt8]: Int32] = [:]
        idsByBytes.reserveCapacity(vocab.count)
        for (token, id) in vocab {
            guard id <= Int(Int32.max) else {
                throw .invalidValue(file: file.file, key: "model.vocab[\"\(token)\"]", expected: "an id below 2^31", found: "\(id)")
            }
            switch ByteLevelAlphabet.bytes(of: token) {
            case .success(let bytes):
                tokens[id] = token
                idsByBytes[bytes] = Int32(id)
            case .failure(let outside):
                throw .invalidValue(file: file.file, key: "model.vocab[\"\(token)\"]",
                                    expected: "a byte-level token (GPT-2 byte-to-unicode symbols)",
                                    found: "U+\(String(outside.scalar.value, radix: 16, uppercase: true))")
            }
        }
        var byteIDs = [Int32](repeating: 0, count: 256)
        for b in 0..<256 {
            guard let id = idsByBytes[[UInt8(b)]] else {
                throw .invalidValue(file: file.file, key: "model.vocab", expected: "a token for each of the 256 bytes",
                                    found: "no token for byte 0x\(String(b, radix: 16, uppercase: true)) ('\(ByteLevelAlphabet.scalarForByte[b])')")
            }
            byteIDs[b] = id
        }
        let merges = try model.array("merges")
        var mergeRanks: [UInt64: Int32] = [:]
        mergeRanks.reserveCapacity(merges.count)
        var mergeResults = [Int32]()
        mergeResults.reserveCapacity(merges.count)
        for (rank, element) in merges.enumerated() {
            let parts: [String]
            if let line = element.stringValue {
                parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else if let pair = element.arrayValue, case let strings = pair.compactMap(\.stringValue), strings.count == pair.count {
                parts = strings
            } else {
                throw .malformedMerge(file: file.file, index: rank,
                                      reason: "expected \"left right\" or [left, right], found \(element.kindDescription)")
            }
            guard parts.count == 2 else {
                throw .malformedMerge(file: file.file, index: rank, reason: "expected two parts, found \(parts.count): \(parts)")
            }
            func lookup(_ token: String) throws(TokenizerError) -> Int32 {
                guard let id = vocab[token] else {
                    throw .malformedMerge(file: file.file, index: rank, reason: "token '\(token)' is not in the vocabulary")
                }
                return Int32(id)
            }
            let left = try lookup(parts[0]), right = try lookup(parts[1])
            let result = try lookup(parts[0] + parts[1])
            mergeRanks[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] = Int32(rank)
            mergeResults.append(result)
        }
        return BPEModel(tokens: tokens, idsByBytes: idsByBytes, byteIDs: byteIDs, mergeRanks: mergeRanks,
                        mergeResults: mergeResults,
                        ignoreMerges: try model.optionalBool("ignore_merges", default: false) ?? false)
    }
}
