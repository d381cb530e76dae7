/// A token of `tokenizer.json`'s `added_tokens`: matched whole in the input before any other processing,
/// and never split.
///
/// The flags have the `tokenizers` library's meaning:
/// - `normalized == false`: matched on the raw input (all special tokens of Qwen2 and BERT);
///   `true`: matched on the normalized text of the pieces between raw matches.
/// - `singleWord`: matched only when neither neighbour is a word character (Rust regex `\w`).
/// - `lstrip` / `rstrip`: the match absorbs the whitespace on its left / right.
/// - `special`: a control token (`<|im_start|>`, `[CLS]`); kept by `decode` unless asked to skip.
/// Immutable value; `Sendable`.
public struct AddedToken: Sendable, Hashable {
    /// The token's text.
    public let content: String
    /// The token id.
    public let id: Int
    /// Whether this is a special (control) token.
    public let special: Bool
    /// Whether it only matches as a whole word.
    public let singleWord: Bool
    /// Whether a match absorbs the whitespace on its left.
    public let lstrip: Bool
    /// Whether a match absorbs the whitespace on its right.
    public let rstrip: Bool
    /// Whether it is matched on the normalized text (true) or on the raw input (false).
    public let normalized: Bool

    public init(content: String, id: Int, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
    }
}
