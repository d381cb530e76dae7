import Foundation
import QAnchorTestSupport
import Testing

/// The input log moves under the daemon (its topics deleted and created again while it was stopped, as after a
/// broker that lost its storage): the stored positions are beyond the new logs' ends. On Tansu, which answers such
/// fetches with no records and the true high watermark. `fail` stops the daemon with the partition named;
/// `earliest` re-reads the new log.
///
/// (Recreating the topics while the daemon runs crashes librdkafka 2.16 itself — SIGSEGV in its metadata cache —
/// on Tansu; the restarted daemon then meets exactly this case. docs/daemon.md "When the input log moves under the
/// daemon".)
@Suite("input log moved under the daemon", .serialized)
struct OffsetOutOfRangeTests {
    static let storedKey = DaemonHarness.storedEventsKey

    /// Deletes the input topics and creates them again, empty, with the same partition count (confluent-kafka).
    static func recreateInputs(_ harness: DaemonHarness, partitions: Int) throws {
        let topics = DaemonHarness.modalities.map { harness.topic($0) }
        let script = """
        import sys, time
        from confluent_kafka.admin import AdminClient, NewTopic
        a = AdminClient({"bootstrap.servers": sys.argv[1]})
        topics = sys.argv[3:]
        for f in a.delete_topics(topics).values(): f.result()
        deadline = time.time() + 30
        while any(t in a.list_topics(timeout=10).topics for t in topics) and time.time() < deadline: time.sleep(0.2)
        for f in a.create_topics([NewTopic(t, int(sys.argv[2]), 1) for t in topics]).values(): f.result()
        """
        let (status, output) = try Subprocess.run("/opt/qanchor/venv/bin/python",
                                                  ["-c", script, harness.bootstrap, String(partitions)] + topics, showErrors: true)
        guard status == 0 else { throw Subprocess.Failure(description: "recreating the inputs failed: \(output)") }
    }

    static func ingestThenRecreate(_ harness: DaemonHarness) async throws {
        // Two records per (topic, user) before; one after, in partitions that held two: every new log ends below the
        // stored position (a new log already as long as the old one is indistinguishable from it, for Kafka too).
        var before = EventFile()
        before.text("bill", "b1", user: "u1", daysAgo: 3, "Paid 38.00 CNY at Lucky Coffee")
        before.text("bill", "b2", user: "u1", daysAgo: 3, "Paid 12.50 CNY at FamilyMart")
        before.text("app", "b3", user: "u1", daysAgo: 2, "Alipay")
        before.text("app", "b4", user: "u1", daysAgo: 2, "Taobao")
        let file = harness.directory.appendingPathComponent("before.jsonl")
        try before.write(to: file)
        try harness.createTopics(partitions: 2)
        try harness.produce(file)
        try await harness.start()
        try await harness.waitReady(timeout: .seconds(90))
        #expect(try await harness.metrics()[storedKey] == 4)
        #expect(await harness.stop() == 0)
        try recreateInputs(harness, partitions: 2)
        var after = EventFile()
        after.text("bill", "a1", user: "u1", daysAgo: 1, "Transfer 500.00 to savings")
        after.text("app", "a2", user: "u1", daysAgo: 1, "Meituan")
        let next = harness.directory.appendingPathComponent("after.jsonl")
        try after.write(to: next)
        try harness.produce(next)
        try await harness.start()
    }

    /// A broker of the test's own: deleting topics leaves Tansu metadata that other tests' clients need not see.
    static func privateBroker(_ label: String) throws -> LocalBroker {
        let broker = try LocalBroker.onFreePort(label: label)
        try broker.start()
        return broker
    }

    @Test func failStopsTheDaemonNamingThePartition() async throws {
        let broker = try Self.privateBroker("oor-fail")
        defer { broker.stop() }
        let harness = try DaemonHarness(name: "oor-fail", extraYAML: "kafka.on_offset_out_of_range: fail\n", broker: broker)
        try await Self.ingestThenRecreate(harness)
        let process = try #require(harness.process)
        let code = await process.wait(timeout: .seconds(120))
        #expect(code != nil && code != 0, "the daemon did not stop: \(process.log.suffix(2000))")
        #expect(process.log.contains("beyond the end of the log"), "exit \(String(describing: code)): \(process.log.suffix(1500))")
        #expect(process.log.contains("input offset out of range"))
    }

    /// `earliest` and `window` (the new records are inside the window) re-read the new log.
    @Test(arguments: ["earliest", "window"])
    func reReadsTheNewLog(policy: String) async throws {
        let broker = try Self.privateBroker("oor-\(policy)")
        defer { broker.stop() }
        let harness = try DaemonHarness(name: "oor-\(policy)", extraYAML: "kafka.on_offset_out_of_range: \(policy)\n", broker: broker)
        try await Self.ingestThenRecreate(harness)
        // (Counters are per process: the restarted daemon stores the new log's two events.)
        let metrics = try await harness.waitForMetric(Self.storedKey, toReach: 2, timeout: .seconds(120))
        #expect(metrics[Self.storedKey] == 2, "the new records were not ingested: \(harness.process?.log.suffix(4000) ?? "")")
        let counted = metrics.filter { $0.key.hasPrefix("qanchor_input_offset_out_of_range_total{") && $0.key.contains("action=\"\(policy)\"") }
        #expect(counted.values.reduce(0, +) >= 1, "\(counted)")
        try await harness.waitReady(timeout: .seconds(60))
        #expect(await harness.stop() == 0)
    }
}
