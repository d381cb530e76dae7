import Foundation

/// BERT WordPiece tokenizer (gte-base, bert-base-chinese), read from `tokenizer.json`, with token ids
/// identical to the Hugging Face `tokenizers` library.
///
/// Pipeline for `encode` (the library's order):
/// 1. added tokens with `normalized: false` (BERT's `[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`) are found
///    in the raw text and kept whole — so a literal "[SEP]" in the input is the separator token;
/// 2. the text between them is normalized by `BertNormalizer` (clean text, CJK spacing, accent stripping,
///    lower-casing, as configured) and searched for added tokens with `normalized: true`;
/// 3. `BertPreTokenizer` splits words on whitespace and punctuation;
/// 4. each word becomes WordPiece pieces or `[UNK]` (`WordPieceModel`);
/// 5. truncation (if `maxLength` is given) keeps the first `maxLength - 2` tokens, then the post-processor
///    template adds `[CLS]` … `[SEP]`.
///
/// Input: a Swift `String` (always valid Unicode). `encode(utf8:)` takes possibly invalid UTF-8 and replaces
/// each maximal invalid subsequence with U+FFFD — which `clean_text` then removes.
///
/// Immutable; `Sendable`, safe to share between threads.
public struct WordPieceTokenizer: TextTokenizer {
    /// The added tokens of the file, in file order.
    public var addedTokens: [AddedToken] { added.tokens }
    /// One more than the largest token id (vocabulary and added tokens).
    public let vocabularySize: Int
    /// The unknown token's id.
    public var unknownID: Int { model.unknownID }
    /// Number of special tokens the template adds around a text (2 for `[CLS] $A [SEP]`).
    public var templateTokenCount: Int { template.addedCount }

    let normalizer: BertNormalizer?
    let model: WordPieceModel
    let template: SingleSequenceTemplate
    let added: AddedTokenSet

    /// Loads a `tokenizer.json` whose model is WordPiece.
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
        guard type == "WordPiece" else {
            throw .unsupported(file: file.file, key: "model.type", found: "model type '\(type)' for a WordPiece tokenizer")
        }
        normalizer = try Self.parseNormalizer(root)
        if let pre = try root.optionalObject("pre_tokenizer") {
            let preType = try pre.string("type")
            guard preType == "BertPreTokenizer" else {
                throw .unsupported(file: file.file, key: "pre_tokenizer.type",
                                   found: "pre-tokenizer '\(preType)' for a WordPiece tokenizer (supported: BertPreTokenizer)")
            }
        } else {
            throw .missingKey(file: file.file, key: "pre_tokenizer")
        }
        template = try SingleSequenceTemplate(root)

        let vocab = try file.vocabulary()
        let unknown = try modelObject.string("unk_token")
        guard let unknownID = vocab[unknown] else {
            throw .invalidValue(file: file.file, key: "model.unk_token", expected: "a token of model.vocab",
                                found: "'\(unknown)', which is not in the vocabulary")
        }
        let maxChars = try modelObject.isNull("max_input_chars_per_word") ? 100 : modelObject.int("max_input_chars_per_word")
        guard maxChars > 0 else {
            throw modelObject.mismatch("max_input_chars_per_word", "a positive integer", .integer(Int64(maxChars)))
        }
        let prefix = try modelObject.optionalString("continuing_subword_prefix") ?? "##"
        model = WordPieceModel(vocabulary: vocab, unknownID: unknownID, maxInputCharsPerWord: maxChars,
                               continuingSubwordPrefix: prefix)

        let norm = normalizer
        added = AddedTokenSet(try file.addedTokens()) { norm?.normalize($0) ?? Array($0) }
        let largestTemplate = (template.prefix + template.suffix).max() ?? -1
        vocabularySize = max(model.tokens.count, added.largestID + 1, largestTemplate + 1)
    }

    private static func parseNormalizer(_ root: TokenizerJSON) throws(TokenizerError) -> BertNormalizer? {
        guard let normalizer = try root.optionalObject("normalizer") else { return nil }
        let type = try normalizer.string("type")
        guard type == "BertNormalizer" else {
            throw .unsupported(file: root.file, key: "normalizer.type",
                               found: "normalizer '\(type)' for a WordPiece tokenizer (supported: BertNormalizer or none)")
        }
        return try BertNormalizer(normalizer)
    }

    // MARK: Encoding

    /// Token ids of `text` with the template's special tokens (`[CLS]` … `[SEP]`), no truncation.
    public func encode(_ text: String) -> [Int] {
        encode(text, maxLength: nil)
    }

    /// Token ids of `text` with the template's special tokens, at most `maxLength` of them when given.
    ///
    /// Truncation drops tokens from the end of the text before the special tokens are added, as the library
    /// does with `enable_truncation(max_length)`. A `maxLength` smaller than the number of special tokens
    /// gives just the special tokens (the library ignores such a limit).
    public func encode(_ text: String, maxLength: Int?) -> [Int] {
        var ids = contentIDs(text)
        if let maxLength {
            let keep = max(0, maxLength - template.addedCount)
            if ids.count > keep { ids.removeSubrange(keep...) }
        }
        return template.prefix + ids + template.suffix
    }

    /// Token ids of `text` without special tokens or truncation.
    func contentIDs(_ text: String) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var out: [Int] = []
        out.reserveCapacity(scalars.count / 2 + 2)
        let norm = normalizer
        added.split(scalars, normalize: { norm?.normalize($0) ?? Array($0) }, token: { out.append($0) }, text: { text in
            BertPreTokenizer.split(text) { word in model.tokenize(text[word], into: &out) }
        })
        return out
    }

    // MARK: Lookup

    /// The token string of `id` (e.g. `##ing`), or nil.
    public func token(forID id: Int) -> String? {
        if let token = added.token(id: id) { return token.content }
        guard id >= 0, id < model.tokens.count else { return nil }
        return model.tokens[id]
    }

    /// The id of a token string, or nil.
    public func id(forToken token: String) -> Int? {
        added.id(content: token) ?? model.ids[token]
    }
}
