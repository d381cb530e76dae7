import Foundation
import Testing
@testable import QAnchorModel

/// The fast paths of `CanonicalNormalization` never skip a scalar Foundation would change.
@Suite struct TokenizerNormalizationTests {
    static func nfc(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return Array(String(view).precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// Second scalars of primary composites (NFC_QC = Maybe): the scalars that can merge with what precedes.
    static func composingSeconds() -> Set<UInt32> {
        var seconds = Set<UInt32>()
        for v in UInt32(0xC0)...0x10FFFF {
            guard let s = Unicode.Scalar(v) else { continue }
            let d = Array(String(s).decomposedStringWithCanonicalMapping.unicodeScalars)
            guard d.count >= 2, nfc(d) == [s] else { continue }
            seconds.insert(d.last!.value)
        }
        // Hangul: vowel and trailing jamo compose with a preceding jamo or LV syllable.
        for v in UInt32(0x1161)...0x1175 { seconds.insert(v) }
        for v in UInt32(0x11A8)...0x11C2 { seconds.insert(v) }
        return seconds
    }

    @Test func nfcStableScalarsNeverChange() {
        let seconds = Self.composingSeconds()
        #expect(seconds.contains(0x301) && seconds.contains(0x3099))
        var bad: [String] = []
        for range in [0...0x2FF] + CanonicalNormalization.nfcStableRanges {
            for v in range {
                guard let s = Unicode.Scalar(v) else { continue }
                #expect(CanonicalNormalization.isNFCStable(s))
                if seconds.contains(v) || s.properties.canonicalCombiningClass.rawValue != 0
                    || Self.nfc([s]) != [s] {
                    bad.append(String(v, radix: 16))
                }
            }
        }
        #expect(bad.isEmpty, "scalars NFC may change: \(bad.prefix(20))")
    }

    @Test func nfdStableScalarsHaveNoDecomposition() {
        var bad: [String] = []
        for range in [0...0xBF] + CanonicalNormalization.nfdStableRanges {
            for v in range {
                guard let s = Unicode.Scalar(v) else { continue }
                #expect(CanonicalNormalization.isNFDStable(s))
                if !String(s).decomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual([s]) {
                    bad.append(String(v, radix: 16))
                }
            }
        }
        #expect(bad.isEmpty, "scalars NFD changes: \(bad.prefix(20))")
    }

    @Test func slowPathNormalizes() {
        let decomposed = Array("e\u{301}\u{1112}\u{1161}\u{11AB}".unicodeScalars)
        #expect(CanonicalNormalization.nfc(decomposed[...]) == Self.nfc(decomposed))
        #expect(CanonicalNormalization.nfc(decomposed[...]).count == 2)
        let composed = Array("é한".unicodeScalars)
        #expect(CanonicalNormalization.nfd(composed[...]).count == 5)
    }
}
