import Foundation
import Testing
@testable import QAnchorModel

/// Token ids against the `tokenizers` library's goldens, for every corpus case and every tokenizer.
@Suite struct TokenizerGoldenTests {
    @Test(arguments: TokenizerTestData.tokenizerNames)
    func idsMatchLibrary(name: String) throws {
        let tokenizer = try TokenizerTestData.loadTokenizer(name)
        let goldens = try TokenizerTestData.loadGoldens()
        #expect(goldens.cases.count > 50 && goldens.fuzz.count > 100)
        for c in goldens.textCases {
            let expected = try #require(c.ids(name), "case \(c.index) has no \(name) ids")
            let ids = tokenizer.encode(c.text)
            #expect(ids == expected, "\(name) \(c.label)")
        }
    }

    @Test(arguments: TokenizerTestData.tokenizerNames)
    func tokenStringsMatchLibrary(name: String) throws {
        let tokenizer = try TokenizerTestData.loadTokenizer(name)
        let stripping = Set(tokenizer.addedTokens.filter { $0.lstrip || $0.rstrip }.map(\.id))
        for c in try TokenizerTestData.loadGoldens().textCases {
            let expected = try #require(c.tokens(name))
            let ids = tokenizer.encode(c.text)
            var tokens = ids.map { tokenizer.token(forID: $0) ?? "<missing>" }
            // The library shows an lstrip/rstrip added token as the text it matched, whitespace included.
            for (i, id) in ids.enumerated() where i < expected.count && stripping.contains(id) {
                if expected[i].trimmingCharacters(in: .whitespacesAndNewlines) == tokens[i] { tokens[i] = expected[i] }
            }
            #expect(tokens == expected, "\(name) \(c.label)")
        }
    }

    @Test(arguments: ["wordpiece", "wordpiece-cased"])
    func truncatedIdsMatchLibrary(name: String) throws {
        guard case .wordPiece(let tokenizer) = try TokenizerTestData.loadTokenizer(name) else {
            Issue.record("\(name) is not a WordPiece tokenizer")
            return
        }
        let goldens = try TokenizerTestData.loadGoldens()
        #expect(!goldens.truncationLengths.isEmpty)
        for c in goldens.textCases {
            for n in goldens.truncationLengths {
                let expected = try #require(c.ids("\(name)@\(n)"))
                #expect(tokenizer.encode(c.text, maxLength: n) == expected,
                        "\(name)@\(n) \(c.label)")
            }
        }
    }

    /// A limit below the template's two tokens gives the template alone (our choice; the library would not
    /// truncate at all): the same ids as the library's limit of 2.
    @Test func truncationBelowTemplateGivesTemplateOnly() throws {
        guard case .wordPiece(let tokenizer) = try TokenizerTestData.loadTokenizer("wordpiece") else {
            Issue.record("wordpiece is not a WordPiece tokenizer")
            return
        }
        #expect(tokenizer.templateTokenCount == 2)
        for c in try TokenizerTestData.loadGoldens().cases.prefix(10) {
            let two = try #require(c.ids("wordpiece@2"))
            #expect(tokenizer.encode(c.text, maxLength: 0) == two)
            #expect(tokenizer.encode(c.text, maxLength: 1) == two)
            #expect(tokenizer.encode(c.text, maxLength: -5) == two)
        }
    }

    /// Invalid UTF-8: Swift's replacement (`String(decoding:)`) must give Python's `decode("utf-8", "replace")`
    /// text, and the ids must match the library's for that text.
    @Test(arguments: TokenizerTestData.tokenizerNames)
    func invalidUTF8MatchesLibrary(name: String) throws {
        let tokenizer = try TokenizerTestData.loadTokenizer(name)
        let cases = try TokenizerTestData.loadGoldens().invalidUTF8
        #expect(!cases.isEmpty)
        for c in cases {
            let hex = try #require(c.string("utf8Hex"))
            let bytes = try #require(Self.bytes(hex: hex))
            #expect(String(decoding: bytes, as: UTF8.self) == c.text, "decoding \(hex)")
            #expect(tokenizer.encode(utf8: bytes) == c.ids(name), "\(name) bytes \(hex)")
        }
    }

    @Test func bpeDecodeMatchesLibrary() throws {
        guard case .bpe(let tokenizer) = try TokenizerTestData.loadTokenizer("bpe") else {
            Issue.record("bpe is not a BPE tokenizer")
            return
        }
        for c in try TokenizerTestData.loadGoldens().textCases {
            let ids = try #require(c.ids("bpe"))
            #expect(tokenizer.decode(ids) == c.string("bpeDecoded"), "\(c.label)")
            #expect(tokenizer.decode(ids, skipSpecialTokens: true) == c.string("bpeDecodedSkippingSpecial"),
                    "\(c.label)")
        }
    }

    /// The Q-Anchor tokens are single added tokens, in PAPER.md §2 order after Qwen2's three.
    @Test func bpeHasQAnchorSpecialTokens() throws {
        let tokenizer = try TokenizerTestData.loadTokenizer("bpe")
        let modalities = ["bill", "minipro", "spm", "sousuo", "app", "tabular"]
        let names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + modalities.map { "<|\($0)_pad|>" }
            + modalities.flatMap { ["<|\($0)_start|>", "<|\($0)_end|>"] } + ["<|user_emb|>"]
        let ids = try names.map { try #require(tokenizer.id(forToken: $0), "\($0)") }
        #expect(ids == Array(ids[0]..<(ids[0] + names.count)))
        for (name, id) in zip(names, ids) {
            #expect(tokenizer.encode("x" + name + "y").contains(id))
            #expect(tokenizer.token(forID: id) == name)
        }
    }

    /// Many threads encoding at once (sharing the merge cache) get the same ids as one thread.
    @Test func concurrentEncodingIsConsistent() async throws {
        let tokenizer = try TokenizerTestData.loadTokenizer("bpe")
        let texts = try TokenizerTestData.loadGoldens().cases.map(\.text)
        let expected = texts.map { tokenizer.encode($0) }
        let results = await withTaskGroup(of: [[Int]].self) { group in
            for _ in 0..<4 { group.addTask { texts.map { tokenizer.encode($0) } } }
            return await group.reduce(into: [[[Int]]]()) { $0.append($1) }
        }
        #expect(results.count == 4)
        for r in results { #expect(r == expected) }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
