import Foundation

/// A tokenizer loaded from a Hugging Face `tokenizer.json`, of the kind its `model.type` declares:
/// byte-level BPE (Qwen2) or WordPiece (BERT).
///
/// Immutable; `Sendable`, safe to share between threads.
public enum Tokenizer: TextTokenizer {
    /// `model.type == "BPE"`: byte-level BPE (Qwen2).
    case bpe(BPETokenizer)
    /// `model.type == "WordPiece"`: BERT WordPiece.
    case wordPiece(WordPieceTokenizer)

    /// Loads `url`, detecting the model type. Throws `TokenizerError` naming the file and what is wrong
    /// (unreadable, malformed JSON, missing vocabulary, unknown model type, malformed merges, ...).
    public init(contentsOf url: URL) throws(TokenizerError) {
        try self.init(file: TokenizerFile.read(url))
    }

    /// Parses a `tokenizer.json` held in memory; `source` names it in errors.
    public init(data: Data, source: String) throws(TokenizerError) {
        try self.init(file: TokenizerFile.parse(data, source: source))
    }

    init(file: TokenizerFile) throws(TokenizerError) {
        switch try file.modelType() {
        case "BPE": self = .bpe(try BPETokenizer(file: file))
        case "WordPiece": self = .wordPiece(try WordPieceTokenizer(file: file))
        case let other:
            throw .unsupported(file: file.file, key: "model.type",
                               found: "model type '\(other)' (supported: BPE, WordPiece)")
        }
    }

    public var vocabularySize: Int {
        switch self {
        case .bpe(let t): return t.vocabularySize
        case .wordPiece(let t): return t.vocabularySize
        }
    }

    /// Token ids of `text` (for WordPiece with `[CLS]`/`[SEP]` and no truncation).
    public func encode(_ text: String) -> [Int] {
        switch self {
        case .bpe(let t): return t.encode(text)
        case .wordPiece(let t): return t.encode(text)
        }
    }

    public func token(forID id: Int) -> String? {
        switch self {
        case .bpe(let t): return t.token(forID: id)
        case .wordPiece(let t): return t.token(forID: id)
        }
    }

    public func id(forToken token: String) -> Int? {
        switch self {
        case .bpe(let t): return t.id(forToken: token)
        case .wordPiece(let t): return t.id(forToken: token)
        }
    }

    /// The added tokens of the file, in file order.
    public var addedTokens: [AddedToken] {
        switch self {
        case .bpe(let t): return t.addedTokens
        case .wordPiece(let t): return t.addedTokens
        }
    }
}
