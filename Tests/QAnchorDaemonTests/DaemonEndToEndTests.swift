import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor serve` end to end against the real broker: events produced by an independent client, embeddings read
/// back by another, compared with `qanchor embed` on the same events.
@Suite("qanchor serve end to end", .serialized)
struct DaemonEndToEndTests {
    static func parse(_ json: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
    }

    static func floats(_ any: Any?) -> [Double] { (any as? [NSNumber] ?? []).map(\.doubleValue) }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).map(*).reduce(0, +)
        return dot / max((a.map { $0 * $0 }.reduce(0, +) * b.map { $0 * $0 }.reduce(0, +)).squareRoot(), 1e-30)
    }

    /// `qanchor embed` on a file, keyed by "user/scenario".
    static func reference(_ file: URL, nowMs: Int64) throws -> [String: [String: Any]] {
        let result = try QAnchorExecutable.run(["embed", "--bundle", DaemonHarness.bundle, "--events", file.path,
                                                "--now", String(nowMs)])
        #expect(result.status == 0, "qanchor embed: \(result.errors)")
        var out: [String: [String: Any]] = [:]
        for line in result.output.split(separator: "\n") {
            let record = parse(String(line))
            out["\(record["user_id"] as! String)/\(record["scenario"] as! String)"] = record
        }
        return out
    }

    static func expectSameEmbedding(_ got: [String: Any], _ expected: [String: Any]?, _ what: String,
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        guard let expected else { Issue.record("\(what): no reference record", sourceLocation: sourceLocation); return }
        let a = floats(got["embedding"]), b = floats(expected["embedding"])
        #expect(a.count == b.count && cosine(a, b) >= 0.99999, "\(what): cosine \(cosine(a, b))", sourceLocation: sourceLocation)
        #expect((got["model"] as? [String: String]) == (expected["model"] as? [String: String]), sourceLocation: sourceLocation)
        #expect((got["event_time"] as? NSNumber) == (expected["event_time"] as? NSNumber), "\(what) event_time",
                sourceLocation: sourceLocation)
        let gs = got["scores"] as? [String: NSNumber] ?? [:], es = expected["scores"] as? [String: NSNumber] ?? [:]
        #expect(Set(gs.keys) == Set(es.keys), sourceLocation: sourceLocation)
        for (label, value) in es {
            #expect(abs((gs[label]?.doubleValue ?? -1) - value.doubleValue) <= 1e-4, "\(what) score \(label)",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func publishesWhatEmbedComputesThenRepublishesOnlyTheChangedUser() async throws {
        let harness = try DaemonHarness(name: "e2e")
        var events = EventFile()
        events.text("bill", "b1", user: "u1", daysAgo: 30, "Paid 38.00 CNY at Lucky Coffee")
        events.text("bill", "b2", user: "u1", daysAgo: 20, "Transfer 500.00 to savings")
        events.text("app", "a1", user: "u1", daysAgo: 10, "Alipay")
        events.text("search", "s1", user: "u1", daysAgo: 2, "cheap flights to Chengdu 成都")
        events.tabular("t1", user: "u1", daysAgo: 5, [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7])
        events.text("bill", "b3", user: "u2", daysAgo: 40, "Paid 38.00 CNY at Lucky Coffee")
        events.text("mini", "m1", user: "u2", daysAgo: 12, "Ant Forest 蚂蚁森林")
        events.text("spm", "p1", user: "u2", daysAgo: 3, "a1.b2.c3.d4")
        events.text("app", "a2", user: "u3", daysAgo: 1, "Taobao")
        events.tabular("t2", user: "u4", daysAgo: 7, [1, 2, 3, 4, 5, 6, 7])
        events.tabular("t3", user: "u4", daysAgo: 6, [7, 6, 5, 4, 3, 2, 1])
        events.text("bill", "b1", user: "u1", daysAgo: 30, "Paid 38.00 CNY at Lucky Coffee")  // duplicate event id
        let file = harness.directory.appendingPathComponent("events.jsonl")
        try events.write(to: file)

        try harness.createTopics()
        try harness.produce(file)
        try await harness.start()
        try await harness.waitReady()
        let summary = try await harness.refresh()
        #expect(summary["published"] == 4)
        #expect(summary["failed"] == 0)

        let reference = try Self.reference(file, nowMs: events.nowMs)
        var firstVersions: [String: Int] = [:]
        for scenario in DaemonHarness.scenarios {
            let records = try harness.read(topic: harness.outputTopic(scenario))
            #expect(records.count == 4, "\(scenario): \(records.count) records")
            for record in records {
                let json = Self.parse(record.value ?? "")
                #expect(json["user_id"] as? String == record.key)
                #expect(json["scenario"] as? String == scenario)
                #expect(json["version"] as? Int == 1)
                #expect(record.headers.contains("qanchor-scenario=\(scenario)"))
                #expect(record.headers.contains("qanchor-fingerprint=sha256:"))
                Self.expectSameEmbedding(json, reference["\(record.key)/\(scenario)"], "\(record.key)/\(scenario)")
                firstVersions[record.key] = json["version"] as? Int
            }
        }
        // Distinct (modality, text) pairs were encoded once: "Paid 38.00…" appears twice in bill.
        var metrics = try await harness.metrics()
        #expect(metrics["qanchor_texts_encoded_total"] == 7)
        // What runs is visible: the build and the model, in the metrics and at /v1/info.
        let (_, infoBody) = try await harness.http("GET", "/v1/info")
        let info = try #require(try JSONSerialization.jsonObject(with: Data(infoBody.utf8)) as? [String: Any], "\(infoBody)")
        let build = try #require(info["qanchor"] as? [String: String]), model = try #require(info["model"] as? [String: Any])
        let fingerprint = try #require(model["fingerprint"] as? String)
        #expect(fingerprint.hasPrefix("sha256:") && model["precision"] as? String == "fp32")
        #expect((model["scenarios"] as? [String])?.isEmpty == false)
        let buildKey = "qanchor_build_info{version=\"\(build["version"] ?? "")\",commit=\"\(build["commit"] ?? "")\"}"
        #expect(metrics[buildKey] == 1, "\(buildKey) not among \(metrics.keys.filter { $0.hasPrefix("qanchor_build") })")
        #expect(metrics.contains { $0.key.hasPrefix("qanchor_model_info{") && $0.key.contains("fingerprint=\"\(fingerprint)\"") && $0.value == 1 })
        // (A repeated text in a later batch is a cache hit; within one batch it is encoded once.)
        let hitsBefore = metrics["qanchor_content_cache_lookups_total{result=\"hit\"}"] ?? 0

        // One new event for one modality of one user, with a text the store has already seen.
        var more = EventFile()
        more.text("bill", "b9", user: "u2", daysAgo: 1, "Transfer 500.00 to savings")
        let moreFile = harness.directory.appendingPathComponent("more.jsonl")
        try more.write(to: moreFile)
        let storedKey = DaemonHarness.storedEventsKey
        let storedBefore = metrics[storedKey] ?? 0
        try harness.produce(moreFile)
        // Wait until the new record is stored (readiness alone may not have seen it fetched yet).
        try await harness.waitForMetric(storedKey, toReach: storedBefore + 1)
        let second = try await harness.refresh()
        #expect(second["published"] == 1)
        metrics = try await harness.metrics()
        #expect(metrics["qanchor_texts_encoded_total"] == 7, "no previously seen text is encoded again")
        #expect(metrics["qanchor_content_cache_lookups_total{result=\"hit\"}"] == hitsBefore + 1)

        let combined = harness.directory.appendingPathComponent("combined.jsonl")
        try (String(contentsOf: file, encoding: .utf8) + String(contentsOf: moreFile, encoding: .utf8))
            .write(to: combined, atomically: true, encoding: .utf8)
        let updated = try Self.reference(combined, nowMs: more.nowMs)
        for scenario in DaemonHarness.scenarios {
            let records = try harness.read(topic: harness.outputTopic(scenario))
            #expect(records.count == 5)
            let newest = records.filter { $0.key == "u2" }.map { Self.parse($0.value ?? "") }
            #expect(newest.count == 2)
            if let last = newest.max(by: { ($0["version"] as? Int ?? 0) < ($1["version"] as? Int ?? 0) }) {
                #expect(last["version"] as? Int == 2)
                Self.expectSameEmbedding(last, updated["u2/\(scenario)"], "u2/\(scenario) after the new event")
            }
        }
        // The last published records are served from the store.
        let (status, body) = try await harness.http("GET", "/v1/users/u2/embeddings")
        #expect(status == 200)
        #expect(body.contains("\"version\":2"))
        #expect(try await harness.http("GET", "/v1/users/nobody/embeddings").status == 404)
        #expect(await harness.stop() == 0)
    }

    @Test func startingAtTheEndIsReadyAtOnceAndReadsOnlyNewRecords() async throws {
        let harness = try DaemonHarness(name: "latest", autoOffsetReset: "latest")
        var old = EventFile()
        old.text("bill", "o1", user: "old", daysAgo: 3, "Paid 38.00 CNY at Lucky Coffee")
        old.text("app", "o2", user: "old", daysAgo: 2, "Alipay")
        let oldFile = harness.directory.appendingPathComponent("old.jsonl")
        try old.write(to: oldFile)
        try harness.createTopics(partitions: 2)
        try harness.produce(oldFile)
        try await harness.start()
        // Nothing will be stored for the records before the start: readiness comes from the fetch position.
        try await harness.waitReady(timeout: .seconds(60))

        var new = EventFile()
        new.text("bill", "n1", user: "new", daysAgo: 1, "Transfer 500.00 to savings")
        let newFile = harness.directory.appendingPathComponent("new.jsonl")
        try new.write(to: newFile)
        try harness.produce(newFile)
        let storedKey = DaemonHarness.storedEventsKey
        try await harness.waitForMetric(storedKey, toReach: 1)
        try await harness.waitReady(timeout: .seconds(30))
        let summary = try await harness.refresh()
        #expect(summary["published"] == 1)
        #expect(try harness.read(topic: harness.outputTopic("generic")).map(\.key) == ["new"])
        #expect(try await harness.metrics()[storedKey] == 1)
        #expect(await harness.stop() == 0)
    }

    @Test func badRecordsGoToTheDeadLetterTopicAndTheRestFlows() async throws {
        // The daemon's producer refuses records over 3000 bytes: the over-long text's dead letter (3 KB of text
        // plus headers) is then sent without its value.
        let harness = try DaemonHarness(name: "dlq", kafkaProperties: ["message.max.bytes=3000"])
        try harness.createTopics(partitions: 1)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let day: Int64 = 86_400_000
        let bill = harness.topic("bill"), tabular = harness.topic("tabular")
        func good(_ id: String, _ text: String) -> [UInt8] {
            Array(#"{"event_id":"\#(id)","user_id":"ub","ts":\#(now - day),"text":"\#(text)"}"#.utf8)
        }
        var expected: [String] = []
        func bad(_ topic: String, _ value: [UInt8], key: String? = "ub", reason: String) throws {
            try harness.produceRaw(topic: topic, key: key, value: value)
            expected.append(reason)
        }
        try harness.produceRaw(topic: bill, key: "ub", value: good("g1", "first good event"))
        try bad(bill, Array(#"{"event_id": "x1", "user_id": "ub", "ts": "#.utf8), reason: "malformed_json")
        try bad(bill, Array(#"{"user_id":"ub","ts":\#(now),"text":"no id"}"#.utf8), reason: "missing_field")
        try bad(bill, Array(#"{"event_id":"x3","user_id":"uc","ts":\#(now),"text":"SECRET-TEXT-42"}"#.utf8), reason: "key_mismatch")
        try bad(bill, Array(#"{"event_id":"x4","user_id":"ub","ts":\#(now - 200 * day),"text":"too old"}"#.utf8), reason: "too_old")
        try bad(bill, Array(#"{"event_id":"x5","user_id":"ub","ts":\#(now + 2 * day),"text":"future"}"#.utf8), reason: "in_future")
        try bad(bill, Array(#"{"event_id":"x6","user_id":"ub","ts":\#(now),"text":"\#(String(repeating: "y", count: 3000))"}"#.utf8),
                reason: "text_too_long")
        try bad(bill, [0x7b, 0x22, 0x65, 0xff, 0xfe, 0x22, 0x7d], reason: "invalid_utf8")
        try bad(tabular, Array(#"{"event_id":"x8","user_id":"ub","ts":\#(now),"features":[1,2,3]}"#.utf8), reason: "feature_count")
        try bad(tabular, Array(#"{"event_id":"x9","user_id":"ub","ts":\#(now),"features":[1,2,3,4,5,6,1e39]}"#.utf8),
                reason: "non_finite_feature")
        try bad(tabular, Array(#"{"event_id":"x10","user_id":"ub","ts":\#(now),"features":[1,2,3,4,5,6,"7"]}"#.utf8),
                reason: "wrong_type")
        try harness.produceRaw(topic: bill, key: "ub", value: good("g2", "second good event"))

        try await harness.start()
        try await harness.waitReady()
        let summary = try await harness.refresh()
        #expect(summary["published"] == 1)

        let letters = try harness.read(topic: harness.deadLetterTopic)
        let reasons = letters.compactMap { row in
            row.headers.split(separator: ",").first { $0.hasPrefix("qanchor-reason=") }.map { String($0.dropFirst("qanchor-reason=".count)) }
        }
        #expect(reasons.sorted() == expected.sorted(), "dead letters: \(letters.map(\.headers))")
        #expect(letters.allSatisfy { $0.headers.contains("qanchor-source-topic=\(harness.prefix).events.") })
        #expect(letters.allSatisfy { $0.headers.contains("qanchor-source-offset=") && $0.headers.contains("qanchor-source-partition=0") })
        let dropped = letters.filter { $0.headers.contains("qanchor-value-dropped=MSG_SIZE_TOO_LARGE") }
        #expect(dropped.count == 1 && dropped.first?.value == nil && dropped.first?.headers.contains("qanchor-reason=text_too_long") == true,
                "dead letters: \(letters.map(\.headers))")
        #expect(letters.filter { $0.value == nil }.count == 1, "only the refused dead letter lost its value")
        let metrics = try await harness.metrics()
        #expect(metrics["qanchor_deadletter_total{reason=\"too_old\"}"] == 1)
        #expect(metrics["qanchor_events_total{modality=\"all\",outcome=\"stored\"}"] == 2)

        // The good records of the same partition were applied.
        let records = try harness.read(topic: harness.outputTopic("generic"))
        #expect(records.map(\.key) == ["ub"])
        let log = harness.process?.log ?? ""
        #expect(!log.contains("SECRET-TEXT-42"), "no raw event text in the logs")
        #expect(await harness.stop() == 0)
    }
}
