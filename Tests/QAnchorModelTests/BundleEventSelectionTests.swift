import Foundation
import Testing
@testable import QAnchorModel

/// `ModelEventParser` and `ModelEventSelection` choose exactly what the PyTorch reference chose for the committed
/// events (`testdata/goldens/tiny/events.json`): the bad lines, the dropped lines and their reasons, the selected
/// event ids per user and modality (oldest first), and the output's `event_time` / `window_start`.
@Suite struct BundleEventSelectionTests {
    let manifest: BundleManifest
    let golden: [String: Any]

    init() throws {
        manifest = try BundleManifest.load(bundleDirectory: BundleTestData.tinyBundle)
        golden = try BundleTestData.object(BundleTestData.goldens.appendingPathComponent("events.json"))
    }

    func select(_ file: String) throws -> (ModelEventSelection, [ModelEventParser.BadLine]) {
        let data = try Data(contentsOf: BundleTestData.events.appendingPathComponent(file))
        let (events, bad) = ModelEventParser(modalities: manifest.modalities).parseLines(data)
        let now = try #require(golden["now_ms"] as? Int)
        let skew = try #require(golden["skew_ms"] as? Int)
        return (ModelEventSelection(events: events, modalities: manifest.modalities, windowDays: manifest.windowDays,
                                    nowMs: Int64(now), skewMs: Int64(skew)), bad)
    }

    func expected(_ file: String) throws -> [String: Any] {
        let files = try #require(golden["files"] as? [String: Any])
        return try #require(files[file] as? [String: Any])
    }

    @Test(arguments: ["users.jsonl", "bad-lines.jsonl"])
    func selectionMatchesTheReference(file: String) throws {
        let (selection, _) = try select(file)
        let want = try expected(file)
        let ids = try #require(want["selected_event_ids"] as? [String: [String: [String]]])
        #expect(selection.users.map(\.userID) == ids.keys.sorted())
        for user in selection.users {
            let got = user.events.mapValues { $0.map(\.eventID) }
            #expect(got == ids[user.userID], "\(user.userID)")
        }
        let dropped = try #require(want["dropped"] as? [[String: Any]])
        #expect(selection.dropped.map { $0.event.line } == dropped.map { $0["line"] as? Int })
        #expect(selection.dropped.map(\.reason.rawValue) == dropped.map { $0["reason"] as? String })
        #expect(selection.windowStartMs == Int64(try #require(golden["window_start_ms"] as? Int)))
    }

    @Test(arguments: ["users.jsonl", "bad-lines.jsonl"])
    func badLinesMatchTheReference(file: String) throws {
        let (_, bad) = try select(file)
        let want = try #require(try expected(file)["bad_lines"] as? [[String: Any]])
        #expect(bad.map(\.line) == want.map { $0["line"] as? Int })
        // The reference's reason starts with the same field name ('ts': ...), or with none for non-objects.
        for (got, exp) in zip(bad, want) {
            let reason = exp["reason"] as? String ?? ""
            if let field = got.error.field {
                #expect(reason.hasPrefix("'\(field)':"), "line \(got.line): \(got.error) vs \(reason)")
            } else {
                #expect(!reason.hasPrefix("'"), "line \(got.line): \(got.error) vs \(reason)")
            }
        }
    }

    /// Every parsed line equals the reference's parse: line, modality, ids, ts in ms, text, features as fp32.
    @Test(arguments: ["users.jsonl", "bad-lines.jsonl"])
    func parsedEventsMatchTheReference(file: String) throws {
        let data = try Data(contentsOf: BundleTestData.events.appendingPathComponent(file))
        let (events, _) = ModelEventParser(modalities: manifest.modalities).parseLines(data)
        let want = try #require(try expected(file)["parsed"] as? [[String: Any]])
        #expect(events.count == want.count)
        for (event, w) in zip(events, want) {
            #expect(event.line == w["line"] as? Int)
            #expect(event.modality == w["modality"] as? String)
            #expect(event.eventID == w["event_id"] as? String)
            #expect(event.userID == w["user_id"] as? String)
            #expect(event.timestampMs == Int64(try #require(w["ts"] as? Int)), "line \(event.line ?? 0)")
            switch event.payload {
            case let .text(text):
                #expect(text == w["text"] as? String, "line \(event.line ?? 0)")
            case let .features(features):
                let numbers = try #require(w["features"] as? [Double])
                #expect(features == numbers.map { Float($0) }, "line \(event.line ?? 0)")
            }
        }
    }

    @Test func eventTimesMatchTheExpectedRecords() throws {
        let (selection, _) = try select("users.jsonl")
        let text = try String(contentsOf: BundleTestData.goldens.appendingPathComponent("embed-users.jsonl"), encoding: .utf8)
        var expected: [String: Int64?] = [:]
        for line in text.split(separator: "\n") {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let user = try #require(record["user_id"] as? String)
            expected.updateValue((record["event_time"] as? Int).map(Int64.init), forKey: user)  // null stays a key
        }
        #expect(Set(expected.keys) == Set(selection.users.map(\.userID)))
        for user in selection.users {
            #expect(user.eventTimeMs == expected[user.userID] ?? nil, "\(user.userID)")
        }
    }

    @Test func tabularFeaturesAreParsedAsFloat() throws {
        let line = #"{"modality":"tabular","event_id":"t","user_id":"u","ts":5,"features":[1,-2.5,0.1,3e2,0,7,1e-3]}"#
        let event = try ModelEventParser(modalities: manifest.modalities).parse(line)
        #expect(event.payload == .features([1, -2.5, 0.1, 300, 0, 7, 0.001]))
        #expect(event.timestampMs == 5)
        let bool = #"{"modality":"tabular","event_id":"t","user_id":"u","ts":5,"features":[true,2,3,4,5,6,7]}"#
        #expect(throws: ModelEventParseError.self) { try ModelEventParser(modalities: manifest.modalities).parse(bool) }
    }

    /// RFC 3339 parsing agrees with the reference on accepted and refused times (`events.json`, `rfc3339`).
    @Test func rfc3339TimesMatchTheReference() throws {
        let cases = try #require(golden["rfc3339"] as? [[String: Any]])
        #expect(cases.count >= 30)
        #expect(cases.contains { $0["ms"] is NSNull } && cases.contains { $0["ms"] is Int })
        for c in cases {
            let text = try #require(c["text"] as? String)
            #expect(RFC3339Timestamp.milliseconds(text) == (c["ms"] as? Int).map(Int64.init), "\(text.debugDescription)")
        }
    }

    @Test func windowEdgesAndTiesWithoutFiles() {
        let mods = [BundleModality(name: "bill", kind: .text, maxEvents: 2, maxTextTokens: 8, encoder: "e",
                                   startToken: "s", endToken: "e", padToken: "p")]
        func ev(_ id: String, _ ts: Int64, user: String = "u") -> ModelEvent {
            ModelEvent(modality: "bill", eventID: id, userID: user, timestampMs: ts, payload: .text(id))
        }
        let day: Int64 = 86_400_000
        let now: Int64 = 100 * day
        let events = [ev("edge-old", now - day), ev("too-old", now - day - 1), ev("b", now), ev("a", now),
                      ev("future", now + 11), ev("edge-new", now + 10), ev("b", now - 5), ev("x", now, user: "v")]
        let s = ModelEventSelection(events: events, modalities: mods, windowDays: 1, nowMs: now, skewMs: 10)
        #expect(s.users.map(\.userID) == ["u", "v"])
        #expect(s.users[0].events["bill"]?.map(\.eventID) == ["b", "edge-new"])   // a < b at equal ts; 2 newest
        #expect(s.dropped.map(\.event.eventID) == ["too-old", "future", "b"])
        #expect(s.dropped.map(\.reason) == [.outsideWindow, .outsideWindow, .duplicate])
        #expect(s.users[1].eventTimeMs == now)
    }
}
