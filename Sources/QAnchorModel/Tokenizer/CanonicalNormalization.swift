import Foundation

/// Unicode canonical normalization (NFC, NFD) of a scalar buffer, through Foundation.
///
/// Fast paths skip Foundation when no scalar can change: every scalar below U+0300 is NFC-stable, every
/// scalar below U+00C0 is NFD-stable. Stateless; safe from any thread.
///
/// Known divergence: the `tokenizers` library's normalization tables (crate `unicode-normalization-alignments`)
/// predate Unicode 13, so U+11938 DIVES AKURU VOWEL SIGN O is not decomposed there (and U+11935 U+11930 not
/// composed); Foundation follows the current standard. No other scalar differs.
enum CanonicalNormalization {
    /// Returns the NFC form of `scalars`.
    static func nfc(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        if scalars.allSatisfy({ $0.value < 0x300 }) { return Array(scalars) }
        return Array(makeString(scalars).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Returns the NFD form of `scalars`.
    static func nfd(_ scalars: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        if scalars.allSatisfy({ $0.value < 0xC0 }) { return Array(scalars) }
        return Array(makeString(scalars).decomposedStringWithCanonicalMapping.unicodeScalars)
    }

    private static func makeString(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
