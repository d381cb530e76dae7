import Foundation
import Testing
@testable import QAnchorModel

/// The hand-written Qwen2 split against the library's (Oniguruma) pieces, and the BERT pre-tokenizer.
@Suite struct TokenizerPreTokenizerTests {
    @Test func qwen2SplitMatchesLibrary() throws {
        let goldens = try TokenizerTestData.loadGoldens()
        for c in goldens.textCases + goldens.invalidUTF8 {
            let expected = try #require(c.strings("qwen2Pieces"))
            let scalars = Array(c.text.unicodeScalars)
            var pieces: [String] = []
            Qwen2PreTokenizer.split(scalars[...]) { r in
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[r])
                pieces.append(String(view))
            }
            #expect(pieces == expected, "\(c.label)")
        }
    }

    /// Where Python's `regex` module splits differently from the library, we follow the library; the
    /// goldens record those cases (scalars newer than the library's Unicode 16.0 tables).
    @Test func regexModuleDifferencesAreOnlyNewScalars() throws {
        let goldens = try TokenizerTestData.loadGoldens()
        let differing = goldens.textCases.filter { $0.strings("regexModulePieces") != nil }
        for c in differing {
            let newer = c.text.unicodeScalars.contains { s in
                guard let age = s.properties.age else { return false }
                return age.major > TokenizerUnicode.regexUnicodeVersion.major
            }
            #expect(newer, "\(c.label) differs between regex and tokenizers without new scalars")
        }
    }

    @Test func qwen2SplitCoversInputExactly() {
        let text = Array("  a\t\t\n\n  b'LL ??\r\n 12".unicodeScalars)
        var covered = 0
        Qwen2PreTokenizer.split(text[...]) { r in
            #expect(r.lowerBound == covered)
            #expect(!r.isEmpty)
            covered = r.upperBound
        }
        #expect(covered == text.count)
    }

    @Test func pieceSplitOfEmptyInputIsEmpty() {
        var count = 0
        Qwen2PreTokenizer.split([Unicode.Scalar]()[...]) { _ in count += 1 }
        BertPreTokenizer.split([Unicode.Scalar]()[...]) { _ in count += 1 }
        #expect(count == 0)
    }
}
