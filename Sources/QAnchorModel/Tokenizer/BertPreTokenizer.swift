/// BERT's pre-tokenizer (`BertPreTokenizer` of `tokenizers`): splits on whitespace (removed) and isolates
/// every punctuation character (BERT's definition: ASCII punctuation or Unicode category P as of 8.0).
/// Stateless; safe from any thread.
enum BertPreTokenizer {
    /// Calls `body` with the range of each word or punctuation character of `text`, in order.
    static func split(_ text: ArraySlice<Unicode.Scalar>, _ body: (Range<Int>) -> Void) {
        var wordStart = -1
        for i in text.indices {
            let s = text[i]
            if TokenizerUnicode.isWhitespace(s) {
                if wordStart >= 0 { body(wordStart..<i); wordStart = -1 }
            } else if TokenizerUnicode.isBertPunctuation(s) {
                if wordStart >= 0 { body(wordStart..<i); wordStart = -1 }
                body(i..<(i + 1))
            } else if wordStart < 0 {
                wordStart = i
            }
        }
        if wordStart >= 0 { body(wordStart..<text.endIndex) }
    }
}
