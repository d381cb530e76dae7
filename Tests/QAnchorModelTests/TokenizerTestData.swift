import Foundation
import Testing
@testable import QAnchorModel

/// Paths and goldens of `testdata/tokenizers/`, written by `ops/model/make_tokenizers.py`.
enum TokenizerTestData {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testdata/tokenizers")

    static let tokenizerNames = ["bpe", "wordpiece", "wordpiece-cased"]

    static func tokenizerURL(_ name: String) -> URL {
        directory.appendingPathComponent(name).appendingPathComponent("tokenizer.json")
    }

    /// One golden case: the text and, per tokenizer name (and "name@maxLength"), what the library gives.
    struct Case {
        let index: Int
        let text: String
        let object: [String: Any]

        var label: String { "case \(index) \(text.debugDescription)" }

        func ids(_ key: String) -> [Int]? {
            if let entry = object[key] as? [String: Any] { return entry["ids"] as? [Int] }
            return object[key] as? [Int]
        }

        func tokens(_ name: String) -> [String]? {
            (object[name] as? [String: Any])?["tokens"] as? [String]
        }

        func string(_ key: String) -> String? { object[key] as? String }
        func strings(_ key: String) -> [String]? { object[key] as? [String] }
    }

    struct Goldens {
        /// The corpus (`corpus.txt`), one case per line.
        let cases: [Case]
        /// Texts decoded from invalid UTF-8; `utf8Hex` holds the bytes.
        let invalidUTF8: [Case]
        /// Random strings over a troublesome alphabet.
        let fuzz: [Case]
        let truncationLengths: [Int]

        /// Corpus and random cases.
        var textCases: [Case] { cases + fuzz }
    }

    static func loadGoldens() throws -> Goldens {
        let data = try Data(contentsOf: directory.appendingPathComponent("goldens.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        func cases(_ key: String) throws -> [Case] {
            let list = try #require(root[key] as? [[String: Any]])
            return try list.enumerated().map { i, o in Case(index: i, text: try #require(o["text"] as? String), object: o) }
        }
        return Goldens(cases: try cases("cases"), invalidUTF8: try cases("invalid_utf8"), fuzz: try cases("fuzz"),
                       truncationLengths: try #require(root["truncation_lengths"] as? [Int]))
    }

    static func loadTokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(contentsOf: tokenizerURL(name))
    }
}
