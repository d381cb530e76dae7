import Foundation
import Testing
@testable import QAnchorModel

/// Bad `tokenizer.json` files fail with a `TokenizerError` that names the file and what is wrong.
@Suite struct TokenizerErrorTests {
    /// The committed BPE or WordPiece file as a mutable JSON object.
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: TokenizerTestData.tokenizerURL(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Loads `object` (serialized) and returns the error it throws, or records an issue if it loads.
    static func loadError(_ object: [String: Any], source: String = "test.json") throws -> TokenizerError? {
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            _ = try Tokenizer(data: data, source: source)
            Issue.record("loading \(source) should have failed")
            return nil
        } catch {
            #expect(error.description.hasPrefix(source + ":"), "\(error.description)")
            return error
        }
    }

    static func modify(_ name: String, _ change: (inout [String: Any]) -> Void) throws -> [String: Any] {
        var o = try json(name)
        change(&o)
        return o
    }

    static func modifyModel(_ name: String, _ change: (inout [String: Any]) -> Void) throws -> [String: Any] {
        try modify(name) { o in
            var model = o["model"] as! [String: Any]
            change(&model)
            o["model"] = model
        }
    }

    @Test func missingFileNamesThePath() {
        let url = URL(fileURLWithPath: "/nonexistent/dir/tokenizer.json")
        #expect {
            _ = try Tokenizer(contentsOf: url)
        } throws: { error in
            guard case .unreadable(let file, _)? = error as? TokenizerError else { return false }
            return file == url.path && "\(error)".contains("/nonexistent/dir/tokenizer.json")
        }
    }

    @Test func malformedJSONIsReported() {
        for text in ["{\"model\": ", "[1, 2]", "", "not json"] {
            #expect(throws: TokenizerError.self) { _ = try Tokenizer(data: Data(text.utf8), source: "bad.json") }
            do {
                _ = try Tokenizer(data: Data(text.utf8), source: "bad.json")
            } catch {
                guard case .malformedJSON(file: "bad.json", _) = error else {
                    Issue.record("expected malformedJSON for \(text.debugDescription), got \(error)")
                    continue
                }
            }
        }
    }

    @Test func missingModelAndVocabulary() throws {
        let noModel = try Self.modify("bpe") { $0["model"] = nil }
        #expect(try Self.loadError(noModel) == .missingKey(file: "test.json", key: "model"))
        for name in ["bpe", "wordpiece"] {
            let noVocab = try Self.modifyModel(name) { $0["vocab"] = nil }
            #expect(try Self.loadError(noVocab) == .missingKey(file: "test.json", key: "model.vocab"))
            let emptyVocab = try Self.modifyModel(name) { $0["vocab"] = [String: Any]() }
            guard case .invalidValue(_, "model.vocab", _, _)? = try Self.loadError(emptyVocab) else {
                Issue.record("empty vocabulary of \(name) not reported")
                continue
            }
        }
    }

    @Test func unknownModelType() throws {
        let unigram = try Self.modifyModel("bpe") { $0["type"] = "Unigram" }
        guard case .unsupported(_, "model.type", let found)? = try Self.loadError(unigram) else {
            Issue.record("Unigram not reported")
            return
        }
        #expect(found.contains("Unigram"))
    }

    @Test func malformedMerges() throws {
        let cases: [(Any, String)] = [
            ("Ġ", "two parts"),                       // one part
            ("a b c", "two parts"),                   // three parts
            (["a"], "two parts"),                     // array of one
            (42, "expected"),                         // not a string or array
            (["zzzz_not_a_token", "a"], "not in the vocabulary"),
        ]
        for (merge, message) in cases {
            let object = try Self.modifyModel("bpe") { model in
                var merges = model["merges"] as! [Any]
                merges[7] = merge
                model["merges"] = merges
            }
            let error = try Self.loadError(object)
            guard case .malformedMerge(_, 7, let reason)? = error else {
                Issue.record("merge \(merge) gave \(String(describing: error))")
                continue
            }
            #expect(reason.contains(message), "\(reason)")
            #expect(error?.description.contains("model.merges[7]") == true)
        }
    }

    @Test func mergeWhoseResultIsNotInVocabulary() throws {
        let object = try Self.modifyModel("bpe") { model in
            var merges = model["merges"] as! [Any]
            merges[0] = ["Ġ", "Ġ"]  // "ĠĠ" is not a token of the small vocabulary
            model["merges"] = merges
            var vocab = model["vocab"] as! [String: Any]
            vocab["ĠĠ"] = nil
            model["vocab"] = vocab
        }
        guard case .malformedMerge(_, 0, let reason)? = try Self.loadError(object) else {
            Issue.record("missing merge result not reported")
            return
        }
        #expect(reason.contains("ĠĠ"))
    }

    @Test func byteLevelVocabularyMustCoverAllBytes() throws {
        let object = try Self.modifyModel("bpe") { model in
            var vocab = model["vocab"] as! [String: Any]
            vocab["Ċ"] = nil  // byte 0x0A
            model["vocab"] = vocab
            model["merges"] = [Any]()
        }
        guard case .invalidValue(_, "model.vocab", _, let found)? = try Self.loadError(object) else {
            Issue.record("missing byte not reported")
            return
        }
        #expect(found.contains("0xA"))
    }

    @Test func nonByteLevelTokenInBPEVocabulary() throws {
        let object = try Self.modifyModel("bpe") { model in
            var vocab = model["vocab"] as! [String: Any]
            vocab["中"] = 1_300
            model["vocab"] = vocab
        }
        guard case .invalidValue(_, let key, _, let found)? = try Self.loadError(object) else {
            Issue.record("non-byte-level token not reported")
            return
        }
        #expect(key == "model.vocab[\"中\"]" && found == "U+4E2D")
    }

    @Test func badVocabularyIDs() throws {
        for bad in [-1, 1.5, "7", 3_000_000_000] as [Any] {
            let object = try Self.modifyModel("wordpiece") { model in
                var vocab = model["vocab"] as! [String: Any]
                vocab["hello"] = bad
                model["vocab"] = vocab
            }
            guard case .invalidValue(_, "model.vocab[\"hello\"]", _, _)? = try Self.loadError(object) else {
                Issue.record("bad id \(bad) not reported")
                continue
            }
        }
    }

    @Test func unsupportedBPEComponents() throws {
        let gpt2Regex = try Self.modify("bpe") { o in
            var pre = o["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": "'s|'t| ?\\p{L}+"]
            pre["pretokenizers"] = steps
            o["pre_tokenizer"] = pre
        }
        guard case .unsupported(_, "pre_tokenizer", let found)? = try Self.loadError(gpt2Regex) else {
            Issue.record("other split regex not reported")
            return
        }
        #expect(found.contains("split pattern"))
        let nfkc = try Self.modify("bpe") { $0["normalizer"] = ["type": "NFKC"] }
        #expect(try Self.loadError(nfkc) == .unsupported(
            file: "test.json", key: "normalizer.type",
            found: "normalizer 'NFKC' for a BPE tokenizer (supported: NFC or none)"))
        let dropout = try Self.modifyModel("bpe") { $0["dropout"] = 0.1 }
        guard case .unsupported(_, "model.dropout", _)? = try Self.loadError(dropout) else {
            Issue.record("dropout not reported")
            return
        }
        let template = try Self.modify("bpe") { $0["post_processor"] = ["type": "TemplateProcessing"] }
        guard case .unsupported(_, "post_processor.type", _)? = try Self.loadError(template) else {
            Issue.record("BPE template post-processor not reported")
            return
        }
    }

    @Test func wordPieceConfigurationErrors() throws {
        let noUnknown = try Self.modifyModel("wordpiece") { $0["unk_token"] = "<unk>" }
        guard case .invalidValue(_, "model.unk_token", _, let found)? = try Self.loadError(noUnknown) else {
            Issue.record("unknown unk_token not reported")
            return
        }
        #expect(found.contains("<unk>"))
        let whitespace = try Self.modify("wordpiece") { $0["pre_tokenizer"] = ["type": "Whitespace"] }
        guard case .unsupported(_, "pre_tokenizer.type", _)? = try Self.loadError(whitespace) else {
            Issue.record("Whitespace pre-tokenizer not reported")
            return
        }
        let badLowercase = try Self.modify("wordpiece") { o in
            var n = o["normalizer"] as! [String: Any]
            n["lowercase"] = "yes"
            o["normalizer"] = n
        }
        #expect(try Self.loadError(badLowercase) == .invalidValue(
            file: "test.json", key: "normalizer.lowercase", expected: "a boolean", found: "string \"yes\""))
        let templateWithoutSpecial = try Self.modify("wordpiece") { o in
            var post = o["post_processor"] as! [String: Any]
            post["special_tokens"] = [String: Any]()
            o["post_processor"] = post
        }
        #expect(try Self.loadError(templateWithoutSpecial) == .missingKey(
            file: "test.json", key: "post_processor.special_tokens.[CLS]"))
        let zeroChars = try Self.modifyModel("wordpiece") { $0["max_input_chars_per_word"] = 0 }
        guard case .invalidValue(_, "model.max_input_chars_per_word", _, _)? = try Self.loadError(zeroChars) else {
            Issue.record("max_input_chars_per_word 0 not reported")
            return
        }
    }

    @Test func malformedAddedTokens() throws {
        for (bad, key) in [(["id": 5] as [String: Any], "added_tokens[0].content"),
                           (["content": "<x>"], "added_tokens[0].id"),
                           (["content": "", "id": 5], "added_tokens[0].content"),
                           (["content": "<x>", "id": -3], "added_tokens[0].id")] {
            let object = try Self.modify("bpe") { $0["added_tokens"] = [bad] }
            let error = try Self.loadError(object)
            switch error {
            case .missingKey(_, let k)?, .invalidValue(_, let k, _, _)?:
                #expect(k == key, "\(String(describing: error))")
            default:
                Issue.record("added token \(bad) gave \(String(describing: error))")
            }
        }
    }
}
