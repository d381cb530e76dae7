import ArgumentParser
import Foundation
import Logging
import QAnchorDaemon
import QAnchorKafka

/// `qanchor bench pipeline`: the daemon end to end against a running broker with the test bundle.
///
/// 1. Produces `--events` input records over `--users` users, texts drawn from `--distinct-texts` per modality
///    (so after the first occurrences they hit the content cache), into fresh topics.
/// 2. Peer: a plain consumer (this project's Kafka layer, no parsing, no store) reads them all — the broker's and
///    client's ceiling.
/// 3. The daemon ingests them into a fresh LMDB store: events/s from its start until every partition is caught up.
/// 4. One refresh of every user: users/s, with the time split into prefill, suffixes and publish.
/// Prints JSON with the machine, the thread count and the ratio to the peer.
struct BenchPipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pipeline",
                                                    abstract: "End-to-end ingest and refresh throughput (JSON).")

    @Option(help: "Bootstrap servers of a running broker (e.g. ops/dev/broker start).") var bootstrap = "127.0.0.1:9092"
    @Option(help: "Model bundle.") var bundle = "testdata/models/tiny"
    @Option(help: "Input records to produce.") var events = 100_000
    @Option(help: "Distinct users.") var users = 5_000
    @Option(help: "Distinct texts per modality.") var distinctTexts = 200
    @Option(help: "Partitions per topic.") var partitions: Int32 = 6
    @Option(help: "OpenBLAS threads (0 = all cores).") var threads = 0
    @Option(help: "Store durability: durable or noMetaSync.") var durability = "durable"
    @Option(help: "Write the changelog (scaling.changelog): on or off.") var changelog = "on"

    func run() async throws {
        var logger = Logger(label: "qanchor.bench")
        logger.logLevel = .warning
        let prefix = "bench-\(UUID().uuidString.prefix(6).lowercased())"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modalities = ["bill", "app", "mini", "search", "spm"]
        var configuration = BenchDaemons.configuration(prefix: prefix, group: prefix, bootstrap: bootstrap, bundle: bundle,
                                                       threads: threads, store: directory.appendingPathComponent("store"),
                                                       durable: durability == "durable")
        configuration.refresh.usersPerBatch = 64
        configuration.scaling.changelog = changelog == "on"
        let client = KafkaClientConfiguration(bootstrapServers: configuration.kafka.bootstrapServers)

        // 1. Produce.
        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        let topics = (modalities + ["tabular"]).map { "\(prefix).\($0)" }
        try await admin.createTopics(topics.map { KafkaTopicSpecification(name: $0, partitions: partitions) })
        await admin.close()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let produceStart = ContinuousClock.now
        let total = events, userCount = users, texts = distinctTexts
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: total, by: 1000) {
                group.addTask {
                    for i in chunk..<min(chunk + 1000, total) {
                        let user = "user-\((i &* 7919) % userCount)"
                        let ts = now - Int64(1 + i % 80) * 86_400_000 + Int64(i)
                        let value: String
                        let topic: String
                        if i % 10 == 9 {
                            topic = "\(prefix).tabular"
                            value = #"{"event_id":"t\#(i)","user_id":"\#(user)","ts":\#(ts),"features":[1,2,3,4,5,6,\#(i % 7)]}"#
                        } else {
                            let m = modalities[i % modalities.count]
                            topic = "\(prefix).\(m)"
                            value = #"{"event_id":"e\#(i)","user_id":"\#(user)","ts":\#(ts),"text":"\#(m) text number \#(i % texts)"}"#
                        }
                        try await producer.send(KafkaProducerRecord(topic: topic, key: user, value: Array(value.utf8)))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await producer.close()
        let produceSeconds = (ContinuousClock.now - produceStart).seconds

        // 2. Peer: plain consumption of the same records.
        let peerSeconds = try await consumeAll(topics: topics, client: client, total: total, logger: logger)

        // 3. Daemon ingest.
        let loadBefore = BenchMachine.loadAverage
        // The clock starts when the group assigned the partitions (Tansu waits session.timeout/2 before that).
        let (ingestSeconds, joinSeconds, daemon, run) = try await BenchDaemons.runUntilReady(configuration, logger: logger)

        // 4. One refresh of every user.
        let before = daemon.metrics.exposition()
        let ticket = daemon.requestRefresh()
        let refreshStart = ContinuousClock.now
        var summary: Refresher.Summary?
        while summary == nil {
            summary = daemon.refreshCompleted(ticket: ticket)
            try await Task.sleep(for: .milliseconds(20))
        }
        let refreshSeconds = (ContinuousClock.now - refreshStart).seconds
        let after = daemon.metrics.exposition()
        try await BenchDaemons.stop(daemon, run)

        func stageSeconds(_ stage: String) -> Double {
            Self.histogramSum(after, stage) - Self.histogramSum(before, stage)
        }
        let refreshed = Double(summary?.published ?? 0)
        let result: [String: Any] = [
            "benchmark": "pipeline", "machine": BenchMachine.cpu, "threads": threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads,
            "openblas": BenchMachine.openBLASEnvironment, "load_average_before_after": [loadBefore, BenchMachine.loadAverage],
            "bundle": bundle, "events": total, "users": userCount, "distinct_texts_per_modality": texts,
            "partitions_per_topic": partitions, "store_durability": durability, "changelog": changelog,
            "produce": ["seconds": produceSeconds, "events_per_s": Double(total) / produceSeconds],
            "peer_plain_consume": ["seconds": peerSeconds, "events_per_s": Double(total) / peerSeconds],
            "group_join_seconds": joinSeconds,
            "ingest": ["seconds": ingestSeconds, "events_per_s": Double(total) / ingestSeconds,
                       "ratio_to_plain_consume": peerSeconds / ingestSeconds, "target_events_per_s": 20_000],
            "refresh": ["users": refreshed, "seconds": refreshSeconds, "users_per_s": refreshed / refreshSeconds,
                        "prefill_seconds": stageSeconds("prefill"), "suffixes_seconds": stageSeconds("suffixes"),
                        "publish_seconds": stageSeconds("publish")],
            "peak_rss_bytes": BenchMachine.peakResidentBytes,
        ]
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
        Standard.output(String(decoding: data, as: UTF8.self))
    }

    private func consumeAll(topics: [String], client: KafkaClientConfiguration, total: Int, logger: Logger) async throws -> Double {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client, groupID: nil, maxBatchSize: 5000,
                                                                                   pauseAbove: 1_000_000, resumeBelow: 100_000),
                                         logger: logger)
        var positions: [KafkaTopicPartition: KafkaOffset] = [:]
        for topic in topics { for p in 0..<partitions { positions[KafkaTopicPartition(topic, p)] = .beginning } }
        let start = ContinuousClock.now
        try consumer.assign(positions)
        var seen = 0
        for await event in consumer.events {
            if case .records(let records) = event { seen += records.count }
            if seen >= total { break }
        }
        let seconds = (ContinuousClock.now - start).seconds
        await consumer.close()
        return seconds
    }

    /// The `_sum` of `qanchor_stage_seconds{stage=…}` in a Prometheus exposition.
    static func histogramSum(_ exposition: [UInt8], _ stage: String) -> Double {
        let text = String(decoding: exposition, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("qanchor_stage_seconds_sum{stage=\"\(stage)\"}") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }
}
