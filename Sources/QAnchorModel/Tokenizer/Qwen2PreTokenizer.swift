/// Qwen2's pre-tokenizer split, implemented by hand: the pieces that the `Split` pre-tokenizer with the regex
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// and behaviour `Isolated` produces in the `tokenizers` library (Oniguruma). At each position the first
/// alternative that matches wins (with the backtracking each one implies):
///
/// 1. `'` + s|t|m|d or re|ve|ll, case-insensitively (`ſ` U+017F folds to `s`; probing the library with every
///    scalar found no other non-ASCII fold);
/// 2. one optional scalar that is not CR, LF, letter or number, then a run of letters;
/// 3. one number scalar;
/// 4. an optional U+0020, a run of scalars that are not whitespace, letter or number, then any CR/LF;
/// 5. a whitespace run up to and including its last CR or LF;
/// 6. a whitespace run at the end of the text, or all of a run but its last scalar (`(?!\S)`);
/// 7. a single whitespace scalar (the rest of a run of one).
///
/// Every scalar belongs to exactly one piece. Character classes come from `TokenizerUnicode` (Unicode 16.0
/// letters and numbers, White_Space). Stateless; safe from any thread.
enum Qwen2PreTokenizer {
    /// The exact pattern string a `tokenizer.json` must contain for this splitter to apply.
    static let pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    private static let letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 4, newline: UInt8 = 8

    @inline(__always)
    private static func classify(_ s: Unicode.Scalar) -> UInt8 {
        let v = s.value
        if v < 0x80 {
            if (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A { return letter }
            if v >= 0x30 && v <= 0x39 { return number }
            if v == 0x0A || v == 0x0D { return space | newline }
            if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return space }
            return 0
        }
        if TokenizerUnicode.isRegexLetter(s) { return letter }
        if TokenizerUnicode.isRegexNumber(s) { return number }
        if TokenizerUnicode.isWhitespace(s) { return space }
        return 0
    }

    /// Lower-cased ASCII letter for contraction matching under Oniguruma's case folding, else 0.
    @inline(__always)
    private static func folded(_ s: Unicode.Scalar) -> UInt8 {
        let v = s.value
        if v == 0x17F { return UInt8(ascii: "s") }  // LATIN SMALL LETTER LONG S folds to 's'
        if v < 0x80, (v | 0x20) >= 0x61, (v | 0x20) <= 0x7A { return UInt8(v | 0x20) }
        return 0
    }

    /// Calls `body` with the range of each piece of `text`, in order; the ranges are indices of `text` and
    /// cover it exactly.
    static func split(_ text: ArraySlice<Unicode.Scalar>, _ body: (Range<Int>) -> Void) {
        let base = text.startIndex
        let n = text.count
        if n == 0 { return }
        // Classes are computed once per scalar: the alternatives look at each scalar several times.
        var classes = [UInt8](repeating: 0, count: n)
        for k in 0..<n { classes[k] = classify(text[base + k]) }
        var i = 0
        while i < n {
            let end = pieceEnd(text, base: base, classes: classes, at: i)
            body((base + i)..<(base + end))
            i = end
        }
    }

    /// End (exclusive, relative) of the piece starting at relative position `i`.
    private static func pieceEnd(_ text: ArraySlice<Unicode.Scalar>, base: Int, classes: [UInt8], at i: Int) -> Int {
        let n = classes.count
        let c = classes[i]
        // 1. Contractions.
        if text[base + i] == "'" && i + 1 < n {
            let a = folded(text[base + i + 1])
            if a == UInt8(ascii: "s") || a == UInt8(ascii: "t") || a == UInt8(ascii: "m") || a == UInt8(ascii: "d") {
                return i + 2
            }
            if i + 2 < n {
                let b = folded(text[base + i + 2])
                if (a == UInt8(ascii: "r") && b == UInt8(ascii: "e")) || (a == UInt8(ascii: "v") && b == UInt8(ascii: "e"))
                    || (a == UInt8(ascii: "l") && b == UInt8(ascii: "l")) {
                    return i + 3
                }
            }
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        var j = i
        if c & (newline | letter | number) == 0 && i + 1 < n && classes[i + 1] & letter != 0 { j = i + 1 }
        if classes[j] & letter != 0 {
            j += 1
            while j < n && classes[j] & letter != 0 { j += 1 }
            return j
        }
        // 3. \p{N}
        if c & number != 0 { return i + 1 }
        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
        let k = (text[base + i] == " " && i + 1 < n) ? i + 1 : i
        if classes[k] == 0 {
            j = k + 1
            while j < n && classes[j] == 0 { j += 1 }
            while j < n && classes[j] & newline != 0 { j += 1 }
            return j
        }
        // Only whitespace is left: c is whitespace. Find the run.
        var runEnd = i + 1
        var lastNewline = c & newline != 0 ? i : -1
        while runEnd < n && classes[runEnd] & space != 0 {
            if classes[runEnd] & newline != 0 { lastNewline = runEnd }
            runEnd += 1
        }
        // 5. \s*[\r\n]+
        if lastNewline >= 0 { return lastNewline + 1 }
        // 6. \s+(?!\S)
        if runEnd == n { return n }
        if runEnd - i >= 2 { return runEnd - 1 }
        // 7. \s+
        return runEnd
    }
}
