import Foundation
import Testing
@testable import QAnchorModel

/// Ad-hoc scenario queries (docs/query.md) on the tiny bundle: a query run on a user's prefix equals the bundle
/// scenario that has that query — also when that scenario is loaded from another manifest — and a prefix restored from
/// its fp16 bytes stays within the numerical contract.
@Suite("Ad-hoc scenario queries")
struct ScenarioQueryTests {
    typealias E = QAnchorEmbedderTests

    /// A user with two events per text modality and a tabular snapshot.
    static func history(_ model: QAnchorEmbedder) throws -> UserHistory {
        var history = UserHistory()
        for m in model.manifest.modalities {
            switch m.kind {
            case .text:
                history.eventVectors[m.name] = try model.eventVectors(modality: m.name, texts: [
                    "Paid 38.00 CNY at Lucky Coffee, food & drink", "Transfer 500.00 to savings \(m.name)"])
            case .tabular:
                history.tabular[m.name] = (0..<(m.features ?? 0)).map { Float($0) * 0.25 - 1 }
            }
        }
        return history
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot: Double = 0, na: Double = 0, nb: Double = 0
        for i in a.indices { dot += Double(a[i]) * Double(b[i]); na += Double(a[i] * a[i]); nb += Double(b[i] * b[i]) }
        return dot / (na * nb).squareRoot()
    }

    @Test func aQueryEqualToAScenarioGivesThatScenario() throws {
        let model = try E.model.get()
        let prefix = try model.prefix(for: try Self.history(model))
        let bundleResults = try model.embeddings(prefix)
        let queries = model.manifest.scenarios.map { ScenarioQuery(query: $0.query.isEmpty ? " " : $0.query, scenario: $0.id) }
        // `generic` has an empty query: an ad-hoc query must not be empty, so it is compared only where non-empty.
        let adhoc = try model.embeddings(prefix, queries: queries)
        for (scenario, (mine, theirs)) in zip(model.manifest.scenarios, zip(adhoc, bundleResults)) where !scenario.query.isEmpty {
            #expect(mine.scenario == scenario.id)
            #expect(mine.embedding == theirs.embedding, "\(scenario.id): the same suffix gives the same numbers")
            #expect(mine.scores == theirs.scores)
        }
    }

    @Test func aNewQueryEqualsABundleWhoseScenarioHasIt() throws {
        let model = try E.model.get()
        let query = "Is this user about to travel abroad? 这个用户要出国旅行吗？"
        // The other bundle: credit_risk's query replaced (its soft prompt and prototypes kept).
        let copy = try BundleTestData.copyOfTinyBundle()
        defer { try? FileManager.default.removeItem(at: copy) }
        var manifest = try BundleTestData.manifestObject()
        var scenarios = manifest["scenarios"] as! [[String: Any]]
        scenarios[0]["query"] = query
        manifest["scenarios"] = scenarios
        try JSONSerialization.data(withJSONObject: manifest).write(to: copy.appendingPathComponent("qanchor.json"))
        let other = try QAnchorEmbedder(bundle: copy)
        #expect(other.fingerprint != model.fingerprint)

        let history = try Self.history(model)
        let expected = try other.embed(user: history, scenarios: ["credit_risk"])[0]
        let mine = try model.embeddings(try model.prefix(for: history), queries: [ScenarioQuery(query: query, scenario: "credit_risk")])[0]
        E.expectClose(mine.embedding, expected.embedding, "ad-hoc vs bundle scenario")
        #expect(mine.scores?.map(\.label) == expected.scores?.map(\.label))
        for (a, b) in zip(mine.scores ?? [], expected.scores ?? []) { #expect(abs(a.score - b.score) <= 1e-4) }
        // Without the scenario: no soft prompt, no scores — a different embedding.
        let bare = try model.embeddings(try model.prefix(for: history), queries: [ScenarioQuery(query: query)])[0]
        #expect(bare.scenario == "adhoc" && bare.scores == nil)
        #expect(Self.cosine(bare.embedding, mine.embedding) < 0.99999)
    }

    @Test func aPrefixRestoredFromFP16BytesStaysWithinTheContract() throws {
        let model = try E.model.get()
        let prefix = try model.prefix(for: try Self.history(model))
        let restored = UserPrefix(state: try DecoderState(serialized: prefix.state.serialized(precision: .fp16)))
        let queries = [ScenarioQuery(query: "Will this user churn?"), ScenarioQuery(query: "Likes coffee", scenario: "credit_risk")]
        let exact = try model.embeddings(prefix, queries: queries)
        let rounded = try model.embeddings(restored, queries: queries)
        var differs = false
        for (a, b) in zip(exact, rounded) {
            E.expectClose(b.embedding, a.embedding, "fp16 state, \(a.scenario)")
            differs = differs || a.embedding != b.embedding
        }
        #expect(differs, "fp16 rounding of the state must change the numbers, or this test checks nothing")
    }

    @Test func givenPrototypesScoreTheResult() throws {
        let model = try E.model.get()
        let prefix = try model.prefix(for: try Self.history(model))
        let width = model.outputWidth
        let p0 = (0..<width).map { Float(sin(Double($0))) }, p1 = (0..<width).map { Float(cos(Double($0) * 0.5)) }
        let result = try model.embeddings(prefix, queries: [
            ScenarioQuery(query: "Will this user buy a car?", prototypes: [p0, p1], labels: ["yes", "no"], tau: 0.1)])[0]
        let u = result.embedding.map(Double.init)
        let logits = [p0, p1].map { p in zip(u, p).reduce(0) { $0 + $1.0 * Double($1.1) } / 0.1 }
        let top = logits.max()!, exps = logits.map { exp($0 - top) }, total = exps.reduce(0, +)
        #expect(result.scores?.map(\.label) == ["yes", "no"])
        for (score, e) in zip(result.scores ?? [], exps) { #expect(abs(Double(score.score) - e / total) <= 1e-6) }
        // Default labels and tau.
        let defaults = try model.embeddings(prefix, queries: [ScenarioQuery(query: "x", prototypes: [p0, p1])])[0]
        #expect(defaults.scores?.map(\.label) == ["p0", "p1"])
    }

    @Test func badQueriesAreNamed() throws {
        let model = try E.model.get()
        let prefix = try model.prefix(for: try Self.history(model))
        func problem(_ q: ScenarioQuery) -> String {
            do { _ = try model.embeddings(prefix, queries: [q]); return "" } catch { return "\(error)" }
        }
        #expect(problem(ScenarioQuery(query: "")).contains("empty"))
        #expect(problem(ScenarioQuery(query: "q", scenario: "nope")).contains("unknown scenario 'nope'"))
        #expect(problem(ScenarioQuery(query: "q", prototypes: [[1, 2]])).contains("prototypes[0]"))
        #expect(problem(ScenarioQuery(query: "q", prototypes: [[Float](repeating: 0, count: model.outputWidth)], labels: ["a", "b"]))
            .contains("labels"))
        #expect(problem(ScenarioQuery(query: "q", scenario: "credit_risk", tau: 0)).contains("tau"))
        #expect(problem(ScenarioQuery(query: "q", tau: 2)).contains("without prototypes"))
    }

    @Test func theTextTowerBatchEqualsEachTextAlone() throws {
        let model = try E.model.get()
        let texts = ["Lucky Coffee", "Transfer 500.00 to savings, then a long tail of words to make it the longest", "游戏"]
        let batch = try model.embedTexts(texts)
        for (text, result) in zip(texts, batch) {
            E.expectClose(result.embedding, try model.embedText(text).embedding, "batched '\(text)'")
        }
        let long = String(repeating: "word ", count: 200)
        #expect(model.textTokenCount(long) == model.manifest.textTower.maxTokens)
        #expect(model.textTokenCount(long, truncated: false) > model.manifest.textTower.maxTokens)
    }
}
