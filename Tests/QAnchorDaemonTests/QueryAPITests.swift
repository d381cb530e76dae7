import Foundation
import QAnchorTestSupport
import Testing

/// The query API of `qanchor serve` (docs/query.md) against the real broker: ad-hoc queries on the cached prefix
/// state compared with `qanchor embed` on a bundle whose scenario has that query, `/v1/embeddings` compared with
/// `qanchor embed-text`, every bad-request class, the token, the cache across a restart and a bundle change.
@Suite("Query API", .serialized)
struct QueryAPITests {
    typealias E = DaemonEndToEndTests
    static let token = "query-test-token-0123456789"
    static let query = "Is this user about to travel abroad? 这个用户要出国旅行吗？"

    /// The tiny bundle with credit_risk's query replaced by `query` (another fingerprint).
    static func bundleWithQuery(in directory: URL) throws -> URL {
        let copy = directory.appendingPathComponent("bundle-travel")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: DaemonHarness.bundle), to: copy)
        let url = copy.appendingPathComponent("qanchor.json")
        var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var scenarios = manifest["scenarios"] as! [[String: Any]]
        scenarios[0]["query"] = query
        manifest["scenarios"] = scenarios
        try JSONSerialization.data(withJSONObject: manifest).write(to: url)
        return copy
    }

    static func records(_ body: String) -> [[String: Any]] { E.parse(body)["records"] as? [[String: Any]] ?? [] }

    static func errorMessage(_ body: String) -> String {
        ((E.parse(body)["error"] as? [String: Any])?["message"] as? String) ?? body
    }

    @Test func adHocQueriesTextEmbeddingsLimitsAndTheCache() async throws {
        let probe = try DaemonHarness(name: "query-probe")
        let tokenFile = probe.directory.appendingPathComponent("token")
        try (Self.token + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile.path)
        let yaml = """
        http.token_file: \(tokenFile.path)
        query:
          max_query_tokens: 80
          max_queries_per_request: 3
          max_concurrent_requests: 1

        """
        let harness = try DaemonHarness(name: "query", extraYAML: yaml)
        harness.token = Self.token
        var events = EventFile()
        events.text("bill", "b1", user: "u1", daysAgo: 30, "Paid 38.00 CNY at Lucky Coffee")
        events.text("bill", "b2", user: "u1", daysAgo: 20, "Transfer 500.00 to savings")
        events.text("search", "s1", user: "u1", daysAgo: 2, "cheap flights to Chengdu 成都")
        events.tabular("t1", user: "u1", daysAgo: 5, [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7])
        events.text("mini", "m1", user: "u2", daysAgo: 12, "Ant Forest 蚂蚁森林")
        events.text("app", "a2", user: "u2", daysAgo: 1, "Taobao")
        let file = try await harness.start(with: events)

        // The token: required on /v1 and /admin, not on the probes.
        let body = "{\"query\":\(String(data: try JSONSerialization.data(withJSONObject: [Self.query], options: []), encoding: .utf8)!.dropFirst().dropLast()),\"scenario\":\"credit_risk\"}"
        #expect(try await harness.send("POST", "/v1/users/u1/query", json: body, token: "").status == 401)
        #expect(try await harness.send("POST", "/v1/users/u1/query", json: body, token: "wrong-token-0123456789").status == 401)
        #expect(try await harness.send("GET", "/v1/info", token: "").status == 401)
        #expect(try await harness.send("POST", "/admin/refresh", token: "").status == 401)
        #expect(try await harness.send("GET", "/healthz", token: "").status == 200)

        // The reference: `qanchor embed` with a bundle whose credit_risk scenario has this query.
        let otherBundle = try Self.bundleWithQuery(in: harness.directory)
        let reference = try QAnchorExecutable.run(["embed", "--bundle", otherBundle.path, "--events", file.path,
                                                   "--now", String(events.nowMs), "--scenario", "credit_risk"])
        #expect(reference.status == 0, "\(reference.errors)")
        let expected = reference.output.split(separator: "\n").map { E.parse(String($0)) }.first { $0["user_id"] as? String == "u1" }

        // A miss (prefill, state stored), then a hit (suffix only): both equal the reference, and each other.
        let miss = try await harness.send("POST", "/v1/users/u1/query", json: body)
        #expect(miss.status == 200, "\(miss.body)")
        #expect(E.parse(miss.body)["cache"] as? String == "miss")
        let hit = try await harness.send("POST", "/v1/users/u1/query", json: body)
        #expect(E.parse(hit.body)["cache"] as? String == "hit")
        for (name, answer) in [("miss", miss), ("hit", hit)] {
            let record = try #require(Self.records(answer.body).first)
            #expect(record["scenario"] as? String == "credit_risk")
            var fromOther = record
            fromOther["model"] = expected?["model"]   // the reference bundle has another fingerprint
            E.expectSameEmbedding(fromOther, expected, "ad-hoc query on a \(name)")
        }
        #expect(E.floats(Self.records(miss.body).first?["embedding"]) == E.floats(Self.records(hit.body).first?["embedding"]))

        // Several queries in one request: one record each, in order.
        let three = try await harness.send("POST", "/v1/users/u2/query",
                                           json: #"{"queries":[{"query":"a"},{"query":"b","scenario":"engagement"},{"query":"c"}]}"#)
        #expect(Self.records(three.body).map { $0["scenario"] as? String } == ["adhoc", "engagement", "adhoc"], "\(three.body)")

        // /v1/embeddings equals embed-text (the same texts in one batch), as floats and as base64.
        let texts = ["Lucky Coffee", "cheap flights to Chengdu 成都"]
        let cli = try QAnchorExecutable.run(["embed-text", "--bundle", DaemonHarness.bundle] + texts)
        #expect(cli.status == 0, "\(cli.errors)")
        let cliVectors = cli.output.split(separator: "\n").map { E.floats(E.parse(String($0))["embedding"]) }
        let inputJSON = String(data: try JSONSerialization.data(withJSONObject: texts), encoding: .utf8)!
        let modelName = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: DaemonHarness.bundle + "/qanchor.json"))) as! [String: Any])["name"] as! String
        let named = try await harness.send("POST", "/v1/embeddings", json: "{\"input\":\(inputJSON),\"model\":\"\(modelName)\"}")
        #expect(named.status == 200, "\(named.body)")
        let answer = E.parse(named.body)
        let data = answer["data"] as? [[String: Any]] ?? []
        #expect(data.map { $0["index"] as? Int } == [0, 1])
        for (row, expectedVector) in zip(data, cliVectors) { #expect(E.floats(row["embedding"]) == expectedVector) }
        #expect(((answer["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0) > 0)
        let b64 = try await harness.send("POST", "/v1/embeddings", json: "{\"input\":\"Lucky Coffee\",\"encoding_format\":\"base64\"}")
        let encoded = ((E.parse(b64.body)["data"] as? [[String: Any]])?.first?["embedding"] as? String) ?? ""
        let decoded = Data(base64Encoded: encoded).map { d in
            stride(from: 0, to: d.count, by: 4).map { Double(Float(bitPattern: d[$0..<$0 + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })) }
        } ?? []
        let single = try await harness.send("POST", "/v1/embeddings", json: "{\"input\":\"Lucky Coffee\"}")
        let floats = E.floats((E.parse(single.body)["data"] as? [[String: Any]])?.first?["embedding"])
        #expect(decoded.map(Float.init) == floats.map(Float.init) && !floats.isEmpty, "base64 is the little-endian float32 bytes of the same numbers")
        #expect(E.cosine(decoded, cliVectors[0]) >= 0.99999, "a batch of one is within the contract of a batch of two")

        // Every bad-request class, with its status and a message naming the problem.
        let bad: [(String, String, Int, String)] = [
            ("/v1/users/u1/query", #"{"query":""}"#, 400, "empty"),
            ("/v1/users/u1/query", "{\"query\":\"\(String(repeating: "word ", count: 120))\"}", 413, "max_query_tokens"),
            ("/v1/users/u1/query", #"{"queries":[{"query":"a"},{"query":"b"},{"query":"c"},{"query":"d"}]}"#, 413, "max_queries_per_request"),
            ("/v1/users/nobody/query", #"{"query":"a"}"#, 404, "no events"),
            ("/v1/users/u1/query", #"{"query":"a","scenario":"nope"}"#, 400, "unknown scenario"),
            ("/v1/users/u1/query", #"{"query":"a","prototypes":[[1,2]]}"#, 400, "prototypes[0]"),
            ("/v1/users/u1/query", #"{"query":3}"#, 400, "query"),
            ("/v1/users/u1/query", "not json", 400, "not a valid"),
            ("/v1/embeddings", #"{"input":[]}"#, 400, "empty"),
            ("/v1/embeddings", #"{"input":[1,2,3]}"#, 400, "token-id"),
            ("/v1/embeddings", #"{"input":"a","model":"gpt-4"}"#, 404, "gpt-4"),
            ("/v1/embeddings", #"{"input":"a","dimensions":7}"#, 400, "dimensions"),
            ("/v1/embeddings", #"{"input":["a","b","c","d"]}"#, 413, "max_queries_per_request"),
        ]
        for (path, json, status, words) in bad {
            let response = try await harness.send("POST", path, json: json)
            #expect(response.status == status, "\(path) \(json.prefix(60)): \(response.status) \(response.body)")
            #expect(Self.errorMessage(response.body).contains(words), "\(path) \(json.prefix(60)): \(response.body)")
        }

        // Too many at once: with one request admitted at a time, a burst gets 429s (and nothing else fails). A request
        // takes about a millisecond here, so on an idle machine one burst may not overlap: up to five bursts.
        var statuses: [Int] = []
        for _ in 0..<5 where !statuses.contains(429) {
            statuses += try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<32 {
                    group.addTask { try await harness.send("POST", "/v1/embeddings", json: #"{"input":["a b c d e f g h","i j k l m n o p","q r s"]}"#).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
        }
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 429 } && statuses.contains(429) && statuses.contains(200), "\(statuses)")
        let metrics = try await harness.metrics()
        #expect(metrics["qanchor_query_prefix_cache_total{result=\"hit\"}"] == 1)
        #expect((metrics["qanchor_query_requests_total{endpoint=\"embeddings\",status=\"429\"}"] ?? 0) >= 1)
        #expect(!(harness.process?.log.contains("travel abroad") ?? true), "no query text in the log (even at debug)")

        // A restart keeps the cached states.
        #expect(await harness.stop() == 0)
        try await harness.start()
        try await harness.waitReady()
        let afterRestart = try await harness.send("POST", "/v1/users/u1/query", json: body)
        #expect(E.parse(afterRestart.body)["cache"] as? String == "hit", "\(afterRestart.body)")
        #expect(E.floats(Self.records(afterRestart.body).first?["embedding"]) == E.floats(Self.records(hit.body).first?["embedding"]))

        // Another bundle (another fingerprint): the cached state is not used. With `cache_policy: refreshed` the
        // refresh (which re-embeds every user for the new bundle) stores every refreshed user's state.
        #expect(await harness.stop() == 0)
        try await harness.start(environment: ["QANCHOR_MODEL_BUNDLE": otherBundle.path, "QANCHOR_QUERY_CACHE_POLICY": "refreshed"])
        try await harness.waitReady()
        let otherModel = try await harness.send("POST", "/v1/users/u1/query", json: body)
        #expect(E.parse(otherModel.body)["cache"] as? String == "miss", "\(otherModel.body)")
        // The refresh re-embeds both users for the new bundle: u1 from the state its query just cached (suffixes
        // only), u2 by a prefill whose state the `refreshed` policy stores — so u2's first query is a hit.
        let summary = try await harness.refresh()
        #expect(summary["published"] == 2, "\(summary)")
        let afterRefresh = try await harness.metrics()
        #expect(afterRefresh["qanchor_refresh_prefix_states_total{source=\"cached\"}"] == 1)
        #expect(afterRefresh["qanchor_refresh_prefix_states_total{source=\"computed\"}"] == 1)
        #expect(afterRefresh["qanchor_query_prefix_cache_writes_total{source=\"refresh\"}"] == 1, "the refresh stored u2's state")
        let u2 = try await harness.send("POST", "/v1/users/u2/query", json: #"{"query":"Likes games?"}"#)
        #expect(E.parse(u2.body)["cache"] as? String == "hit", "\(u2.body)")
        let offline = try QAnchorExecutable.run(["query", "--bundle", otherBundle.path, "--events", file.path,
                                                 "--now", String(events.nowMs), "--query", "Likes games?", "--user", "u2"])
        #expect(offline.status == 0, "\(offline.errors)")
        var got = Self.records(u2.body).first ?? [:]
        got["model"] = E.parse(offline.output)["model"]
        E.expectSameEmbedding(got, E.parse(offline.output), "u2 from the refresh's cached state vs qanchor query offline")
        #expect(await harness.stop() == 0)
    }

    /// A query-only scenario added to the configuration: published to its own topic like the bundle's scenarios, equal
    /// to `qanchor query` offline; adding it changes the serving fingerprint (every user is refreshed again), not the
    /// bundle's, and users whose prefix state is cached cost only the suffix pass.
    @Test func anExtraScenarioIsPublishedAndCostsOnlySuffixPasses() async throws {
        let harness = try DaemonHarness(name: "extra", extraYAML: "query:\n  cache_policy: refreshed\n")
        var events = EventFile()
        events.text("bill", "b1", user: "u1", daysAgo: 30, "Paid 38.00 CNY at Lucky Coffee")
        events.text("search", "s1", user: "u1", daysAgo: 2, "cheap flights to Chengdu 成都")
        events.text("app", "a2", user: "u2", daysAgo: 1, "Taobao")
        events.tabular("t2", user: "u2", daysAgo: 3, [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7])
        let file = try await harness.start(with: events)
        #expect(try await harness.refresh()["published"] == 2)
        let first = try await harness.metrics()
        #expect(first["qanchor_refresh_prefix_states_total{source=\"computed\"}"] == 2)
        #expect(await harness.stop() == 0)

        // Add a query-only scenario with prototypes (its own output topic is created by the daemon).
        let width = 128
        let prototypes = (0..<2).map { k in (0..<width).map { i in Foundation.sin(Double(i * (k + 1))) * 0.1 } }
        let prototypesFile = harness.directory.appendingPathComponent("travel.json")
        try JSONSerialization.data(withJSONObject: ["prototypes": prototypes, "labels": ["stays", "travels"], "tau": 0.5])
            .write(to: prototypesFile)
        let extra = #"[{"id": "travel", "query": "\#(Self.query)", "prototypes_file": "\#(prototypesFile.path)"}]"#
        try await harness.start(environment: ["QANCHOR_SCENARIOS_EXTRA": extra])
        try await harness.waitReady()
        // The serving fingerprint changed: both users are dirty again.
        let dirty = try await harness.waitForMetric("qanchor_dirty_users", toReach: 2)
        #expect(dirty["qanchor_dirty_users"] == 2)
        let info = E.parse(try await harness.http("GET", "/v1/info").body)
        let model = info["model"] as? [String: Any] ?? [:]
        #expect(info["extra_scenarios"] as? [String] == ["travel"])
        #expect((info["serving_fingerprint"] as? String).map { $0 != model["fingerprint"] as? String } == true)
        #expect(try await harness.refresh()["published"] == 2)
        let second = try await harness.metrics()
        #expect(second["qanchor_refresh_prefix_states_total{source=\"cached\"}"] == 2, "only the suffixes ran")
        #expect(second["qanchor_refresh_prefix_states_total{source=\"computed\"}"] ?? 0 == 0)

        // The travel topic holds both users, equal to `qanchor query` offline (the fp32 prefix) with the same query
        // and prototypes; the records name the bundle's fingerprint.
        let published = try harness.read(topic: harness.outputTopic("travel"))
        #expect(Set(published.map(\.key)) == ["u1", "u2"])
        let offline = try QAnchorExecutable.run(["query", "--bundle", DaemonHarness.bundle, "--events", file.path,
                                                 "--now", String(events.nowMs), "--query", Self.query])
        #expect(offline.status == 0, "\(offline.errors)")
        let reference = Dictionary(offline.output.split(separator: "\n").map { E.parse(String($0)) }.map { ($0["user_id"] as! String, $0) },
                                   uniquingKeysWith: { a, _ in a })
        for record in published {
            let got = E.parse(record.value ?? "")
            #expect(got["scenario"] as? String == "travel")
            #expect((got["model"] as? [String: String])?["fingerprint"] == model["fingerprint"] as? String)
            var expected = reference[record.key] ?? [:]
            expected["scores"] = got["scores"]   // offline has no prototypes: compare the scores on their own below
            E.expectSameEmbedding(got, expected, "travel/\(record.key)")
            let u = E.floats(got["embedding"])
            let logits = prototypes.map { p in zip(u, p).map(*).reduce(0, +) / 0.5 }
            let top = logits.max()!, exps = logits.map { Foundation.exp($0 - top) }
            let scores = got["scores"] as? [String: NSNumber] ?? [:]
            #expect(abs((scores["travels"]?.doubleValue ?? -1) - exps[1] / exps.reduce(0, +)) <= 1e-4, "\(scores)")
        }
        #expect(await harness.stop() == 0)
    }
}
