/// The Unicode character classes the reference tokenizers use, computed from Swift's Unicode tables.
///
/// The Hugging Face `tokenizers` library (0.23, Rust) uses three sets of Unicode tables of different ages:
/// - the Qwen2 split regex runs on Oniguruma, whose `\p{L}`, `\p{N}` tables are Unicode 16.0;
/// - `BertNormalizer` / `BertPreTokenizer` take control, punctuation and nonspacing-mark categories from
///   the `unicode_categories` crate, whose tables are Unicode 8.0 (a handful of scalars changed category
///   since: they are listed below);
/// - whitespace (`char::is_whitespace`, Oniguruma `\s`) and lower-casing (`char::to_lowercase`) follow the
///   current standard, the same as Swift's.
/// Swift's tables are newer (Unicode 17 in Swift 6.3), so each predicate ignores scalars assigned after the
/// reference's version (`Unicode.Scalar.Properties.age`). `Tests/QAnchorModelTests/TokenizerUnicodeTests`
/// checks every predicate against the library on all 1,112,064 scalars (`testdata/tokenizers/unicode-classes.json`).
///
/// Stateless; safe from any thread.
enum TokenizerUnicode {
    /// Unicode version of Oniguruma's property tables in `tokenizers` 0.23 (measured: see unicode-classes.json).
    static let regexUnicodeVersion = (major: 16, minor: 0)
    /// Unicode version of the `unicode_categories` crate used by the BERT normalizer and pre-tokenizer.
    static let bertUnicodeVersion = (major: 8, minor: 0)

    @inline(__always)
    static func assigned(_ s: Unicode.Scalar, byVersion v: (major: Int, minor: Int)) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < v.major || (age.major == v.major && age.minor <= v.minor)
    }

    // MARK: Qwen2 split regex classes (Oniguruma)

    /// `\p{L}`: general category L (Lu, Ll, Lt, Lm, Lo) as of Unicode 16.0.
    @inline(__always)
    static func isRegexLetter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return assigned(s, byVersion: regexUnicodeVersion)
        default:
            return false
        }
    }

    /// `\p{N}`: general category N (Nd, Nl, No) as of Unicode 16.0.
    @inline(__always)
    static func isRegexNumber(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber:
            return assigned(s, byVersion: regexUnicodeVersion)
        default:
            return false
        }
    }

    /// `\s`: the White_Space property (U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A,
    /// U+2028, U+2029, U+202F, U+205F, U+3000). U+001C–U+001F are not included (Python's `str.isspace`
    /// includes them; Oniguruma does not).
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return s.properties.isWhitespace
    }

    // MARK: BERT classes (unicode_categories crate, Unicode 8.0)

    /// BERT `is_control`: categories Cc, Cf, Co, Cs as of Unicode 8.0, except tab, LF and CR (which count
    /// as whitespace). Unassigned scalars are not controls.
    @inline(__always)
    static func isBertControl(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v < 0x20 && v != 0x09 && v != 0x0A && v != 0x0D) || v == 0x7F }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate:
            return assigned(s, byVersion: bertUnicodeVersion)
        default:
            return false
        }
    }

    /// BERT `is_whitespace`: tab, LF, CR and the White_Space property.
    @inline(__always)
    static func isBertWhitespace(_ s: Unicode.Scalar) -> Bool { isWhitespace(s) }

    /// Scalars that were punctuation (Po) in Unicode 8.0 and are not any more.
    static let formerPunctuation: Set<UInt32> = [0x166D, 0x111C9]

    /// BERT `is_bert_punc`: ASCII punctuation (all of `!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`) or general
    /// category P (Pc, Pd, Ps, Pe, Pi, Pf, Po) as of Unicode 8.0.
    @inline(__always)
    static func isBertPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60)
                || (v >= 0x7B && v <= 0x7E)
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return assigned(s, byVersion: bertUnicodeVersion)
        default:
            return formerPunctuation.contains(v)
        }
    }

    /// Scalars that were Mn in Unicode 8.0 and are Mc now.
    static let formerNonspacingMarks: Set<UInt32> = [0x1734, 0x1171E]
    /// Scalars that are Mn now but were not in Unicode 8.0 (Lo, Mc or Po then).
    static let laterNonspacingMarks: Set<UInt32> = [0x1885, 0x1886, 0xA9BD, 0x111C9]

    /// BERT accent stripping's `is_mark_nonspacing`: category Mn as of Unicode 8.0.
    @inline(__always)
    static func isBertNonspacingMark(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x300 { return false }
        if s.properties.generalCategory == .nonspacingMark {
            return assigned(s, byVersion: bertUnicodeVersion) && !laterNonspacingMarks.contains(v)
        }
        return formerNonspacingMarks.contains(v)
    }

    /// BERT `is_chinese_char`: the CJK Unified Ideographs blocks as BERT defines them (by code point ranges,
    /// independent of Unicode version).
    @inline(__always)
    static func isBertChineseCharacter(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    // MARK: Added-token word boundaries (Rust `regex` crate)

    /// Rust regex `\w`: Alphabetic, marks (Mn, Mc, Me), decimal digits (Nd), connector punctuation (Pc)
    /// and Join_Control (U+200C, U+200D). Used by `single_word` added tokens. The `regex-syntax` crate's
    /// tables predate Unicode 17 (a Unicode 17 letter next to a single-word token does not block it in the
    /// library: see the goldens' random cases), so scalars newer than 16.0 are not word characters.
    @inline(__always)
    static func isWordCharacter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A || (v >= 0x30 && v <= 0x39) || v == 0x5F
        }
        if v == 0x200C || v == 0x200D { return true }
        guard assigned(s, byVersion: regexUnicodeVersion) else { return false }
        let p = s.properties
        if p.isAlphabetic { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return false
        }
    }
}
