import Foundation

/// Unicode canonical normalization (NFC, NFD) of a scalar buffer, through Foundation.
///
/// Fast paths skip Foundation when no scalar can change, which is the common case for event texts:
/// - NFC: every scalar is below U+0300 or in a CJK / kana / Hangul-syllable / full-width range whose scalars
///   have no canonical decomposition, combining class 0 and never compose with a preceding scalar;
/// - NFD: every scalar is below U+00C0 or a CJK ideograph, CJK punctuation or full-width form (no
///   canonical decomposition).
/// `TokenizerNormalizationTests` checks both ranges against Foundation on every scalar they contain.
/// Stateless; safe from any thread.
///
/// Known divergence: the `tokenizers` library's normalization tables (crate `unicode-normalization-alignments`)
/// predate Unicode 13, so U+11938 DIVES AKURU VOWEL SIGN O is not decomposed there (and U+11935 U+11930 not
/// composed); Foundation follows the current standard. No other scalar differs (checked on all scalars when
/// the goldens were made).
enum CanonicalNormalization {
    /// Scalars that are unchanged by NFC whatever surrounds them (besides everything below U+0300).
    static let nfcStableRanges: [ClosedRange<UInt32>] = [
        0x3000...0x3029, 0x3030...0x3098, 0x309B...0x30FF,  // CJK punctuation, kana (not U+302A–302F, U+3099–309A)
        0x3400...0x4DBF, 0x4E00...0x9FFF,                   // CJK ideographs
        0xAC00...0xD7A3,                                    // Hangul syllables
        0xFF00...0xFFEF,                                    // half-width and full-width forms
    ]

    /// Scalars without a canonical decomposition (besides everything below U+00C0).
    static let nfdStableRanges: [ClosedRange<UInt32>] = [
        0x3000...0x303F, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xFF00...0xFFEF,
    ]

    @inline(__always)
    static func isNFCStable(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x300 { return true }
        for r in nfcStableRanges where r.contains(v) { return true }
        return false
    }

    @inline(__always)
    static func isNFDStable(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0xC0 { return true }
        for r in nfdStableRanges where r.contains(v) { return true }
        return false
    }

    /// Returns the NFC form of `scalars`.
    static func nfc(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        if scalars.allSatisfy(isNFCStable) { return Array(scalars) }
        return Array(makeString(scalars).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Returns the NFD form of `scalars`.
    static func nfd(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        if scalars.allSatisfy(isNFDStable) { return Array(scalars) }
        return Array(makeString(scalars).decomposedStringWithCanonicalMapping.unicodeScalars)
    }

    private static func makeString(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
