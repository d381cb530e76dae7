/// BERT's text normalizer (`BertNormalizer` of `tokenizers`), applied to the text between added tokens.
///
/// Steps, in order, each optional per `tokenizer.json`:
/// 1. `clean_text`: drop U+0000, U+FFFD and control characters; every whitespace character becomes U+0020;
/// 2. `handle_chinese_chars`: put a space on each side of every CJK ideograph;
/// 3. `strip_accents` (defaults to `lowercase` when null): NFD, then drop nonspacing marks (Mn);
/// 4. `lowercase`: each scalar by its full lower-case mapping, one scalar at a time like Rust's
///    `char::to_lowercase` — no context rules, so "ΟΔΟΣ" becomes "οδοσ" (no final sigma) and "İ" becomes
///    "i̇" (i + U+0307).
/// Character classes come from `TokenizerUnicode` (the library's Unicode 8.0 categories). Immutable value;
/// safe from any thread.
struct BertNormalizer: Sendable, Equatable {
    var cleanText: Bool
    var handleChineseChars: Bool
    var stripAccents: Bool
    var lowercase: Bool

    /// Reads a `BertNormalizer` object of `tokenizer.json`.
    init(_ json: TokenizerJSON) throws(TokenizerError) {
        cleanText = try json.optionalBool("clean_text", default: true) ?? true
        handleChineseChars = try json.optionalBool("handle_chinese_chars", default: true) ?? true
        lowercase = try json.optionalBool("lowercase", default: true) ?? true
        stripAccents = try json.optionalBool("strip_accents", default: nil) ?? lowercase
    }

    init(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// The normalized form of `text`.
    func normalize(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count + 8)
        for var s in text {
            if cleanText {
                if s.value == 0 || s.value == 0xFFFD || TokenizerUnicode.isBertControl(s) { continue }
                if TokenizerUnicode.isBertWhitespace(s) { s = " " }
            }
            if handleChineseChars && TokenizerUnicode.isBertChineseCharacter(s) {
                out.append(" ")
                out.append(s)
                out.append(" ")
            } else {
                out.append(s)
            }
        }
        if stripAccents {
            out = CanonicalNormalization.nfd(out[...])
            out.removeAll(where: TokenizerUnicode.isBertNonspacingMark)
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(out.count)
            for s in out {
                if s.value < 0x80 {
                    lowered.append(s.value >= 0x41 && s.value <= 0x5A ? Unicode.Scalar(s.value + 0x20)! : s)
                } else if s.properties.changesWhenLowercased {
                    lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                } else {
                    lowered.append(s)
                }
            }
            out = lowered
        }
        return out
    }
}
