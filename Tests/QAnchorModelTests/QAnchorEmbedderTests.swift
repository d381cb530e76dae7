import Foundation
import Testing
@testable import QAnchorModel

/// The Q-Anchor model layer against goldens from the PyTorch reference (`ops/model/qanchor_reference.py`, built on
/// transformers' Qwen2Model/BertModel and mirroring the authors' modeling.py; regenerate with
/// `ops/model/make_test_bundle.py`). The reference runs prefix + suffix in one full pass; we use the KV-cache path.
@Suite("Q-Anchor model on the tiny bundle")
struct QAnchorEmbedderTests {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return url
    }()
    static let bundle = root.appendingPathComponent("testdata/models/tiny")
    static let goldens = root.appendingPathComponent("testdata/goldens/tiny")

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: goldens.appendingPathComponent(name)))
    }

    static func floats(_ any: Any?) -> [Float] { (any as? [NSNumber] ?? []).map { $0.floatValue } }

    /// cosine ≥ 0.99999 and max-abs ≤ 1e-4 (the numerical contract).
    static func expectClose(_ a: [Float], _ b: [Float], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
        guard a.count == b.count, !a.isEmpty else { return }
        var dot: Double = 0, na: Double = 0, nb: Double = 0, maxAbs: Float = 0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i])
            maxAbs = max(maxAbs, abs(a[i] - b[i]))
        }
        let cosine = dot / max((na * nb).squareRoot(), 1e-30)
        #expect(cosine >= 0.99999, "\(what): cosine \(cosine)", sourceLocation: sourceLocation)
        #expect(maxAbs <= 1e-4, "\(what): max-abs \(maxAbs)", sourceLocation: sourceLocation)
    }

    static let model: Result<QAnchorEmbedder, QAnchorModelError> = Result { () throws(QAnchorModelError) in
        try QAnchorEmbedder(bundle: bundle)
    }

    @Test func eventVectorsMatchTheReference() throws {
        let model = try Self.model.get()
        let cases = try Self.json("event_vectors.json") as! [[String: Any]]
        #expect(!cases.isEmpty)
        for c in cases {
            let modality = c["modality"] as! String, text = c["text"] as! String
            #expect(try model.eventTokenIDs(modality: modality, text: text) == (c["ids"] as! [Int]), "ids of \(text.prefix(30))")
            let h = try model.eventVectors(modality: modality, texts: [text])[0]
            Self.expectClose(h, Self.floats(c["h"]), "h[\(modality)] \(text.prefix(30))")
        }
    }

    @Test func prefixLayoutMatchesTheReference() throws {
        let model = try Self.model.get()
        let golden = try Self.json("bundle.json") as! [String: Any]
        #expect(model.prefixLength == golden["prefix_length"] as! Int)
        #expect(model.fingerprint == golden["fingerprint"] as! String)
        let suffixIDs = golden["suffix_ids"] as! [String: [Int]]
        for (id, ids) in suffixIDs {
            #expect(model.suffixes[id]?.queryTokens.map(Int.init) == ids, "suffix of \(id)")
        }
    }

    @Test func userEmbeddingsMatchTheReference() throws {
        let model = try Self.model.get()
        let selection = (try Self.json("events.json") as! [String: Any])["files"] as! [String: Any]
        let chosen = (selection["users.jsonl"] as! [String: Any])["selected_event_ids"] as! [String: [String: [String]]]
        let expected = (try Self.json("users.json") as! [String: Any])["users.jsonl"] as! [String: [String: Any]]
        // The raw events, by (user, event id); the first occurrence of an id wins (later duplicates are dropped).
        let lines = try String(contentsOf: Self.root.appendingPathComponent("testdata/events/users.jsonl"), encoding: .utf8)
        var events: [String: [String: Any]] = [:]
        for line in lines.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let user = object["user_id"] as? String, let id = object["event_id"] as? String else { continue }
            if events["\(user)/\(id)"] == nil { events["\(user)/\(id)"] = object }
        }
        #expect(chosen.count == expected.count)
        for (user, modalities) in chosen.sorted(by: { $0.key < $1.key }) {
            var history = UserHistory()
            for m in model.manifest.modalities {
                let ids = modalities[m.name] ?? []
                let records = ids.map { events["\(user)/\($0)"]! }
                switch m.kind {
                case .text:
                    let texts = records.map { $0["text"] as! String }
                    history.eventVectors[m.name] = texts.isEmpty ? [] : try model.eventVectors(modality: m.name, texts: texts)
                case .tabular:
                    if let last = records.last { history.tabular[m.name] = Self.floats(last["features"]) }
                }
            }
            let golden = expected[user]!
            let prefix = try model.prefix(for: history)
            let summary = (golden["summary_tokens"] as! [Any]).flatMap { Self.floats($0) }
            Self.expectClose(prefix.summaryTokens, summary, "\(user) summary tokens")
            #expect(prefix.state.length == golden["prefix_length"] as! Int)
            let results = try model.embeddings(prefix)
            let scenarios = golden["scenarios"] as! [String: [String: Any]]
            #expect(results.map(\.scenario) == model.scenarioIDs)
            for result in results {
                let g = scenarios[result.scenario]!
                Self.expectClose(result.hidden, Self.floats(g["hidden"]), "\(user)/\(result.scenario) hidden")
                Self.expectClose(result.embedding, Self.floats(g["embedding"]), "\(user)/\(result.scenario) embedding")
                if let scores = g["scores"] as? [String: NSNumber] {
                    #expect(result.scores?.count == scores.count)
                    for (label, value) in scores {
                        let mine = result.scores?.first { $0.label == label }?.score ?? -1
                        #expect(abs(mine - value.floatValue) <= 1e-4, "\(user)/\(result.scenario) score \(label)")
                    }
                } else {
                    #expect(result.scores == nil)
                }
            }
        }
    }

    @Test func textTowerMatchesTheReference() throws {
        let model = try Self.model.get()
        let cases = try Self.json("text_tower.json") as! [[String: Any]]
        for c in cases {
            let (embedding, hidden) = try model.embedText(c["text"] as! String)
            Self.expectClose(hidden, Self.floats(c["hidden"]), "text tower hidden")
            Self.expectClose(embedding, Self.floats(c["embedding"]), "text tower embedding")
        }
    }

    @Test func unknownScenarioAndOversizedHistoryAreClearErrors() throws {
        let model = try Self.model.get()
        let empty = try model.prefix(for: UserHistory())
        #expect(throws: QAnchorModelError.unknownScenario("nope")) { try model.embeddings(empty, scenarios: ["nope"]) }
        let bill = model.manifest.modalities.first { $0.name == "bill" }!
        let tooMany = UserHistory(eventVectors: ["bill": Array(repeating: Array(repeating: 0.1, count: model.encoderWidth), count: bill.maxEvents! + 1)])
        #expect(throws: QAnchorModelError.self) { try model.prefix(for: tooMany) }
        let wrongWidth = UserHistory(eventVectors: ["bill": [[1, 2, 3]]])
        #expect(throws: QAnchorModelError.self) { try model.prefix(for: wrongWidth) }
    }
}
