/// Finds added tokens in a scalar buffer and splits it into text pieces and token ids, as the `tokenizers`
/// library's `AddedVocabulary::find_matches` does.
///
/// Matching is leftmost-longest and non-overlapping (Aho-Corasick `LeftmostLongest`): at the leftmost
/// position where any token occurs, the longest token there wins, and the search resumes after it. A
/// `singleWord` match with a word character (`\w`) on either side is discarded (and its span is not searched
/// again). `lstrip` / `rstrip` matches absorb neighbouring whitespace. Immutable; safe from any thread.
struct AddedTokenMatcher: Sendable {
    /// One piece of the split input: text to tokenize further, or an added token's id.
    enum Piece: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    private struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let token: AddedToken
    }

    private let patterns: [Pattern]
    /// Pattern indices by first scalar, longest pattern first.
    private let byFirstScalar: [Unicode.Scalar: [Int]]
    /// Bit `c` set when some pattern starts with ASCII scalar `c`.
    private let asciiFirst: (UInt64, UInt64)
    private let hasNonASCIIFirst: Bool

    /// Whether no token can ever match.
    var isEmpty: Bool { patterns.isEmpty }

    /// - Parameter tokens: tokens with the text to match (already normalized for normalized tokens).
    init(_ tokens: [(match: [Unicode.Scalar], token: AddedToken)]) {
        let patterns = tokens.filter { !$0.match.isEmpty }.map { Pattern(scalars: $0.match, token: $0.token) }
        var byFirst: [Unicode.Scalar: [Int]] = [:]
        var lo: UInt64 = 0, hi: UInt64 = 0
        var nonASCII = false
        for (i, p) in patterns.enumerated() {
            let first = p.scalars[0]
            byFirst[first, default: []].append(i)
            switch first.value {
            case 0..<64: lo |= 1 << UInt64(first.value)
            case 64..<128: hi |= 1 << UInt64(first.value - 64)
            default: nonASCII = true
            }
        }
        for key in byFirst.keys {
            // Longest first; among equal lengths the earlier-declared token (they cannot both match).
            byFirst[key]!.sort { (patterns[$0].scalars.count, -$0) > (patterns[$1].scalars.count, -$1) }
        }
        self.patterns = patterns
        self.byFirstScalar = byFirst
        self.asciiFirst = (lo, hi)
        self.hasNonASCIIFirst = nonASCII
    }

    @inline(__always)
    private func mayStartMatch(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 64 { return asciiFirst.0 & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiFirst.1 & (1 << UInt64(v - 64)) != 0 }
        return hasNonASCIIFirst
    }

    /// The leftmost-longest match starting at or after `from`, within `from..<end`.
    private func nextMatch(in s: ArraySlice<Unicode.Scalar>, from: Int, end: Int) -> (Range<Int>, Pattern)? {
        var i = from
        while i < end {
            if mayStartMatch(s[i]), let candidates = byFirstScalar[s[i]] {
                for index in candidates {
                    let p = patterns[index].scalars
                    if i + p.count <= end, s[i..<(i + p.count)].elementsEqual(p) {
                        return (i..<(i + p.count), patterns[index])
                    }
                }
            }
            i += 1
        }
        return nil
    }

    /// Splits `s` (indices are those of `s`) and calls `body` with each piece in order. Text pieces are
    /// never empty; an empty input gives no pieces.
    func split(_ s: ArraySlice<Unicode.Scalar>, _ body: (Piece) -> Void) {
        let lower = s.startIndex, upper = s.endIndex
        if patterns.isEmpty {
            if lower < upper { body(.text(lower..<upper)) }
            return
        }
        var emitted = lower      // end of what has been handed to `body`
        var searchFrom = lower   // where the automaton resumes
        while let (match, pattern) = nextMatch(in: s, from: searchFrom, end: upper) {
            searchFrom = match.upperBound
            let token = pattern.token
            if token.singleWord {
                let wordBefore = match.lowerBound > lower && TokenizerUnicode.isWordCharacter(s[match.lowerBound - 1])
                let wordAfter = match.upperBound < upper && TokenizerUnicode.isWordCharacter(s[match.upperBound])
                if wordBefore || wordAfter { continue }
            }
            var start = match.lowerBound, stop = match.upperBound
            if start < emitted { continue }  // inside a previous match's rstrip span
            if token.lstrip {
                while start > emitted && TokenizerUnicode.isWhitespace(s[start - 1]) { start -= 1 }
            }
            if token.rstrip {
                while stop < upper && TokenizerUnicode.isWhitespace(s[stop]) { stop += 1 }
            }
            if emitted < start { body(.text(emitted..<start)) }
            body(.token(token.id))
            emitted = stop
        }
        if emitted < upper { body(.text(emitted..<upper)) }
    }
}
