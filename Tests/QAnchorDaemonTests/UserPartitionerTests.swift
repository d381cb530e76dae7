import Foundation
import QAnchorTestSupport
import Testing
@testable import QAnchorDaemon

/// `UserPartitioner` places keys exactly where librdkafka's partitioners do (murmur2_random: the Java client's
/// murmur2; consistent_random: CRC-32): confluent-kafka produces keyed records with each, kcat reports where they went.
@Suite("User partitioner", .serialized)
struct UserPartitionerTests {
    @Test(arguments: [(UserPartitioner.murmur2, "murmur2_random"), (UserPartitioner.crc32, "consistent_random")])
    func placesKeysWhereLibrdkafkaDoes(_ partitioner: UserPartitioner, _ librdkafkaName: String) throws {
        let harness = try DaemonHarness(name: "part-\(partitioner.rawValue)")
        let partitions: Int32 = 7
        try harness.createTopics(partitions: Int(partitions))
        var events = EventFile()
        let keys = (0..<300).map { i in i % 3 == 0 ? "user-\(i)" : i % 3 == 1 ? "u\(i)" : "用户-\(i)-\(String(repeating: "x", count: i % 13))" }
        for (i, key) in keys.enumerated() { events.text("bill", "e\(i)", user: key, daysAgo: 1, "t") }
        let file = harness.directory.appendingPathComponent("keys.jsonl")
        try events.write(to: file)
        let python = "/opt/qanchor/venv/bin/python"
        let script = TestBroker.repositoryRoot.appendingPathComponent("ops/dev/produce_events.py").path
        let (status, output) = try Subprocess.run(python, [script, "--bootstrap", harness.bootstrap, "--topic-template",
                                                           "\(harness.prefix).events.{modality}", "--partitioner", librdkafkaName,
                                                           file.path], showErrors: true)
        #expect(status == 0, "\(output)")
        let placed = try Kcat.run(["-b", harness.bootstrap, "-C", "-t", harness.topic("bill"), "-o", "beginning", "-e", "-q",
                                   "-f", "%k\u{1f}%p\u{1e}"])
        var seen = 0
        for row in placed.split(separator: "\u{1e}") {
            let fields = row.split(separator: "\u{1f}").map(String.init)
            guard fields.count == 2, let p = Int32(fields[1]) else { continue }
            seen += 1
            #expect(partitioner.partition(ofKey: Array(fields[0].utf8), count: partitions) == p, "\(fields[0])")
        }
        #expect(seen == keys.count)
    }

    /// Kafka's own test vectors for murmur2 (`org.apache.kafka.common.utils.UtilsTest`).
    @Test func murmur2MatchesKafkasTestVectors() {
        let cases: [(String, Int32)] = [("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
                                        ("a-little-bit-longer-string", -1_486_304_829),
                                        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107)]
        for (text, expected) in cases {
            #expect(Int32(bitPattern: UserPartitioner.murmur2(Array(text.utf8))) == expected, "\(text)")
        }
    }
}
