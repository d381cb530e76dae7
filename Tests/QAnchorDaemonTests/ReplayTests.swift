import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor replay` against the test broker: the dry-run plan, an executed backfill into a fresh store (no source
/// offsets written, no dead letters sent, no group committed), idempotence, filters, and the store lock.
@Suite("qanchor replay", .serialized)
struct ReplayTests {
    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func replay(_ harness: DaemonHarness, _ arguments: [String]) throws -> [String: Any] {
        let result = try harness.qanchor(["replay", "--config", harness.configPath] + arguments)
        guard result.status == 0 else { throw Subprocess.Failure(description: "replay \(arguments): \(result.errors)") }
        return try Self.json(result.output)
    }

    @Test func backfillsTheStoreIdempotentlyWithoutTouchingOffsetsOrTheDeadLetterTopic() async throws {
        let harness = try DaemonHarness(name: "replay")
        try harness.createTopics(partitions: 2)
        var events = EventFile()
        for u in 0..<6 {
            events.text("bill", "b\(u)", user: "user-\(u)", daysAgo: 5, "Paid \(u).00 CNY at Lucky Coffee")
            events.text("app", "a\(u)", user: "user-\(u)", daysAgo: 3, "Alipay")
        }
        events.tabular("t1", user: "user-1", daysAgo: 2, [1, 2, 3, 4, 5, 6, 7])
        let file = harness.directory.appendingPathComponent("events.jsonl")
        try events.write(to: file)
        try harness.produce(file)
        try harness.produceRaw(topic: harness.topic("bill"), key: "user-0", value: Array("{not json".utf8))
        let storeData = harness.directory.appendingPathComponent("store/data.mdb")

        // Dry run: a plan over every input topic-partition, nothing read, no store created.
        let dry = try replay(harness, [])
        #expect(dry["executed"] as? Bool == false)
        let plan = try #require(dry["plan"] as? [String: Any])
        let ranges = try #require(plan["ranges"] as? [[String: Any]])
        #expect(ranges.count == DaemonHarness.modalities.count * 2)
        #expect(ranges.allSatisfy { $0["start_offset"] as? Int == 0 })
        #expect(!FileManager.default.fileExists(atPath: storeData.path))

        // Execute: every valid event stored once, the bad record only counted.
        let first = try #require(try replay(harness, ["--execute"])["summary"] as? [String: Any])
        #expect(first["records_read"] as? Int == 14)
        #expect(first["stored"] as? Int == 13)
        #expect((first["rejected"] as? [String: Int]) == ["malformed_json": 1])
        #expect(first["dirty_users_after"] as? Int == 6)
        #expect(first["encoded"] as? Int == 7, "six bill texts and one app text")
        #expect(try harness.read(topic: harness.deadLetterTopic).isEmpty, "no dead letters by default")
        let stats = try Self.json(try harness.qanchor(["inspect", "--store", harness.directory.appendingPathComponent("store").path,
                                                       "--json"]).output)
        #expect(stats["users"] as? Int == 6)
        #expect((stats["offsets"] as? [Any])?.isEmpty ?? true, "a replay writes no source offsets: \(stats["offsets"] ?? "nil")")

        // Again: nothing new.
        let second = try #require(try replay(harness, ["--execute"])["summary"] as? [String: Any])
        #expect(second["stored"] as? Int == 0 && second["duplicates"] as? Int == 13)
        #expect(second["encoded"] as? Int == 0, "every text comes from the content cache")

        // Filters: one partition and one modality; a start time after every record.
        let one = try #require(try replay(harness, ["--execute", "--partitions", "0", "--modalities", "app"])["summary"]
                               as? [String: Any])
        let appOnPartition0 = try Kcat.run(["-b", harness.bootstrap, "-C", "-t", harness.topic("app"), "-p", "0",
                                            "-o", "beginning", "-e", "-q", "-f", "%o\n"]).split(separator: "\n").count
        #expect(one["records_read"] as? Int == appOnPartition0)
        #expect(one["stored"] as? Int == 0)
        let future = String(Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        let none = try #require(try replay(harness, ["--execute", "--from", future])["summary"] as? [String: Any])
        #expect(none["stored"] as? Int == 0 && none["duplicates"] as? Int == 0)

        // With the daemon running, the store is locked.
        try await harness.start()
        try await harness.waitReady()
        let locked = try harness.qanchor(["replay", "--config", harness.configPath, "--execute"])
        #expect(locked.status != 0 && locked.errors.contains("in use by another qanchor process"), "\(locked.errors)")
        // The daemon, starting without stored offsets, rebuilds from the log: all duplicates, everyone published.
        let summary = try await harness.refresh()
        #expect(summary["published"] == 6)
        #expect(await harness.stop() == 0)
    }
}
