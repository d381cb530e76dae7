/// What every tokenizer of this module offers: text in, token ids out, plus vocabulary lookups.
///
/// Conforming types are immutable after loading and `Sendable`: one instance can serve many threads.
public protocol TextTokenizer: Sendable {
    /// One more than the largest token id (vocabulary and added tokens).
    var vocabularySize: Int { get }
    /// The token ids of `text`, including the special tokens the tokenizer's post-processor adds
    /// (`[CLS]`/`[SEP]` for BERT, none for Qwen2).
    func encode(_ text: String) -> [Int]
    /// The token string of an id, as `tokenizers`' `id_to_token` gives it, or nil for an unknown id.
    func token(forID id: Int) -> String?
    /// The id of a token string, as `tokenizers`' `token_to_id` gives it, or nil.
    func id(forToken token: String) -> Int?
}

extension TextTokenizer {
    /// The token ids of UTF-8 bytes that may be invalid: each maximal invalid subsequence becomes one
    /// U+FFFD (Swift's `String(decoding:as:)`, the same substitution as Python's
    /// `bytes.decode("utf-8", "replace")`), then the text is encoded as by `encode(_:)`.
    public func encode<Bytes: Collection>(utf8 bytes: Bytes) -> [Int] where Bytes.Element == UInt8 {
        encode(String(decoding: bytes, as: UTF8.self))
    }
}
