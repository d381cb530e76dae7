import Foundation
import Testing
@testable import QAnchorModel

/// Every character-class predicate against the library, on all Unicode scalars
/// (`testdata/tokenizers/unicode-classes.json`, written by `ops/model/make_tokenizers.py`).
@Suite struct TokenizerUnicodeTests {
    static func classes() throws -> [String: Any] {
        let data = try Data(contentsOf: TokenizerTestData.directory.appendingPathComponent("unicode-classes.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static let predicates: [(String, @Sendable (Unicode.Scalar) -> Bool)] = [
        ("regexLetter", TokenizerUnicode.isRegexLetter),
        ("regexNumber", TokenizerUnicode.isRegexNumber),
        ("regexWhitespace", TokenizerUnicode.isWhitespace),
        ("bertControl", { $0.value != 0 && $0.value != 0xFFFD && TokenizerUnicode.isBertControl($0) }),
        ("bertWhitespace", { s in
            s.value != 0x20 && !TokenizerUnicode.isBertControl(s) && TokenizerUnicode.isBertWhitespace(s)
        }),
        ("bertPunctuation", { s in
            // The generator only probes scalars that clean_text keeps and that are not whitespace.
            TokenizerUnicode.isBertPunctuation(s)
        }),
        ("bertNonspacingMark", { s in
            TokenizerUnicode.isBertNonspacingMark(s)
                && String(s).decomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual([s])
        }),
    ]

    @Test(arguments: predicates.map(\.0))
    func predicateMatchesLibraryOnAllScalars(name: String) throws {
        let root = try Self.classes()
        let ranges = try #require(root[name] as? [[Int]], "\(name) missing")
        var expected = Set<UInt32>()
        for r in ranges { for v in r[0]...r[1] { expected.insert(UInt32(v)) } }
        let predicate = try #require(Self.predicates.first { $0.0 == name }?.1)
        let probedByBertPreTokenizer = name == "bertPunctuation" || name == "bertNonspacingMark"
        var mismatches: [String] = []
        for v in UInt32(0)...0x10FFFF {
            guard let s = Unicode.Scalar(v) else { continue }
            if probedByBertPreTokenizer && (v == 0 || v == 0x20 || v == 0xFFFD || TokenizerUnicode.isBertControl(s)
                                            || TokenizerUnicode.isBertWhitespace(s)) { continue }
            if predicate(s) != expected.contains(v) { mismatches.append(String(v, radix: 16, uppercase: true)) }
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) scalars differ: \(mismatches.prefix(20))")
    }

    @Test func lowercaseIsPerScalarWithoutFinalSigma() {
        let normalizer = BertNormalizer(cleanText: true, handleChineseChars: true, stripAccents: false, lowercase: true)
        let out = normalizer.normalize(Array("ΟΔΟΣ".unicodeScalars)[...])
        #expect(out == Array("οδοσ".unicodeScalars))
    }
}
