import ArgumentParser
import Foundation
import Logging
import QAnchorDaemon
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// `qanchor bench rebalance`: how long a partition that moves to a new instance takes to be ready there, restored
/// from the changelog against rebuilt from the input topics, against a running broker. Prints JSON.
///
/// 1. **Daemons, the given bundle** (one partition per topic; every event text distinct, so a rebuild finds nothing
///    in the content cache): a first instance ingests `--events` records over `--users` users (writing the
///    changelog) and leaves the group; a second instance with an empty store gets the partition and restores it
///    (clock: from the assignment until it is ready); a third, in another group with the changelog off, rebuilds the
///    same partition from the inputs (clock: same). Ratio = rebuild seconds / restore seconds.
/// 2. **Production shapes**: the restorer alone on `--events` changelog entries with vectors of `--width` (fp16,
///    gte-base: 768) into an empty store, against BERT-base (random weights, this engine) encoding 32-token texts —
///    what a rebuild of a partition whose texts are not cached must do per event.
struct BenchRebalanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rebalance",
                                                    abstract: "Moved-partition restore from the changelog vs rebuild (JSON).")

    @Option(help: "Bootstrap servers of a running broker (e.g. ops/dev/broker start).") var bootstrap = "127.0.0.1:9092"
    @Option(help: "Model bundle of the daemon part.") var bundle = "testdata/models/tiny"
    @Option(help: "Events in the moved partition.") var events = 50_000
    @Option(help: "Users in the moved partition.") var users = 2_000
    @Option(help: "Vector width of the production-shape restore (gte-base: 768).") var width = 768
    @Option(help: "Texts BERT-base encodes for the production-shape rebuild rate.") var rebuildTexts = 256
    @Option(help: "OpenBLAS threads (0 = all cores).") var threads = 0
    @Option(help: "Which parts: all, daemons, shapes.") var part = "all"
    @Option(help: "Store durability of the production-shape restore: durable, noMetaSync, noSync.") var durability = "durable"

    func run() async throws {
        var logger = Logger(label: "qanchor.bench")
        logger.logLevel = .warning
        let prefix = "rebal-\(UUID().uuidString.prefix(6).lowercased())"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(prefix)
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = KafkaClientConfiguration(bootstrapServers: bootstrap.split(separator: ",").map(String.init))
        let loadBefore = BenchMachine.loadAverage

        guard ["all", "daemons", "shapes"].contains(part) else { throw ValidationError("--part: all, daemons or shapes") }
        var result: [String: Any] = [
            "benchmark": "rebalance", "machine": BenchMachine.cpu,
            "threads": threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads,
            "openblas": BenchMachine.openBLASEnvironment, "events": events, "users": users,
        ]
        if part != "shapes" {
            result["daemons"] = try await benchDaemons(prefix: prefix, directory: directory, client: client, logger: logger)
        }
        if part != "daemons" {
            result["production_shapes"] = try await benchProductionShapes(prefix: prefix, directory: directory, client: client,
                                                                         logger: logger)
        }
        result["load_average_before_after"] = [loadBefore, BenchMachine.loadAverage]
        result["peak_rss_bytes"] = BenchMachine.peakResidentBytes
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
        Standard.output(String(decoding: data, as: UTF8.self))
    }

    // MARK: 1. Daemons

    private func configuration(prefix: String, group: String, store: URL, changelog: Bool) -> DaemonConfiguration {
        var c = BenchDaemons.configuration(prefix: prefix, group: group, bootstrap: bootstrap, bundle: bundle,
                                           threads: threads, store: store)
        c.scaling.changelog = changelog
        return c
    }

    private func benchDaemons(prefix: String, directory: URL, client: KafkaClientConfiguration, logger: Logger) async throws -> [String: Any] {
        let modalities = ["bill", "app", "mini", "search", "spm"]
        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        try await admin.createTopics((modalities + ["tabular"]).map { KafkaTopicSpecification(name: "\(prefix).\($0)", partitions: 1) })
        await admin.close()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let total = events, userCount = users
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: total, by: 1000) {
                group.addTask {
                    for i in chunk..<min(chunk + 1000, total) {
                        let user = "user-\((i &* 7919) % userCount)"
                        let ts = now - Int64(1 + i % 80) * 86_400_000 + Int64(i)
                        let m = modalities[i % modalities.count]
                        // Every text distinct: a rebuild finds none of them in its content cache.
                        let value = #"{"event_id":"e\#(i)","user_id":"\#(user)","ts":\#(ts),"text":"\#(m) event \#(i) of \#(user)"}"#
                        try await producer.send(KafkaProducerRecord(topic: "\(prefix).\(m)", key: user, value: Array(value.utf8)))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await producer.close()

        // The first owner ingests everything (encoding every text, writing the changelog), then leaves.
        let seed = try await BenchDaemons.runUntilReady(configuration(prefix: prefix, group: prefix, store: directory.appendingPathComponent("seed"),
                                                          changelog: true), logger: logger)
        let stored = try seed.daemon.store.statistics(includeCacheBytes: false)
        try await BenchDaemons.stop(seed.daemon, seed.run, leaving: true)

        // The new owner: empty store, same group — restores from the changelog.
        let restore = try await BenchDaemons.runUntilReady(configuration(prefix: prefix, group: prefix, store: directory.appendingPathComponent("owner"),
                                                             changelog: true), logger: logger)
        let restoredRecords = Self.counter(restore.daemon.metrics.exposition(), "qanchor_changelog_records_restored_total{outcome=\"applied\"}")
        let encodedOnRestore = Self.counter(restore.daemon.metrics.exposition(), "qanchor_texts_encoded_total")
        try await BenchDaemons.stop(restore.daemon, restore.run, leaving: true)

        // The rebuild: empty store, another group, no changelog — reads the inputs and encodes every text.
        let rebuild = try await BenchDaemons.runUntilReady(configuration(prefix: prefix, group: "\(prefix)-rebuild",
                                                             store: directory.appendingPathComponent("rebuild"), changelog: false),
                                              logger: logger)
        let encodedOnRebuild = Self.counter(rebuild.daemon.metrics.exposition(), "qanchor_texts_encoded_total")
        try await BenchDaemons.stop(rebuild.daemon, rebuild.run, leaving: true)

        return [
            "bundle": bundle, "stored_events": stored.eventsByModality.values.reduce(0, +), "stored_users": stored.users,
            "seed_ingest_seconds": seed.seconds,
            // Rates per input event of the partition: the restore reads one changelog record per event the first
            // owner stored, the rebuild one input record per event.
            "restore": ["seconds": restore.seconds, "changelog_records": restoredRecords,
                        "events_per_s": Double(events) / restore.seconds, "texts_encoded": encodedOnRestore],
            "rebuild": ["seconds": rebuild.seconds, "events_per_s": Double(events) / rebuild.seconds,
                        "texts_encoded": encodedOnRebuild],
            "rebuild_over_restore": rebuild.seconds / restore.seconds,
        ]
    }

    static func counter(_ exposition: [UInt8], _ sample: String) -> Double {
        let text = String(decoding: exposition, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    // MARK: 2. Production shapes

    /// Seconds to read `records` records of partition 0 of `topic` with a plain consumer, fetching as the restorer does.
    static func plainRead(topic: String, records: Int, client: KafkaClientConfiguration, logger: Logger) async throws -> Double {
        var readClient = client
        readClient.properties["max.partition.fetch.bytes"] = "16777216"
        readClient.properties["fetch.max.bytes"] = "67108864"
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: readClient, groupID: nil, maxBatchSize: 4000, pauseAbove: 16000, resumeBelow: 4000), logger: logger)
        let start = ContinuousClock.now
        try consumer.assign([KafkaTopicPartition(topic, 0): .beginning])
        var seen = 0
        for await event in consumer.events {
            if case .records(let batch) = event { seen += batch.count }
            if seen >= records { break }
        }
        let seconds = (ContinuousClock.now - start).seconds
        await consumer.close()
        return seconds
    }

    private func benchProductionShapes(prefix: String, directory: URL, client: KafkaClientConfiguration,
                                       logger: Logger) async throws -> [String: Any] {
        // Changelog entries as the daemon writes them: gte-base-wide vectors in fp16, five text modalities.
        let topic = "\(prefix).wide-changelog"
        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1, configs: ["cleanup.policy": "compact"])])
        await admin.close()
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let total = events, userCount = users, w = width
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: total, by: 2000) {
                group.addTask {
                    var state = UInt64(chunk) &* 0x9E37_79B9_7F4A_7C15 | 1
                    for i in chunk..<min(chunk + 2000, total) {
                        let vector = (0..<w).map { _ -> Float in  // xorshift: the data need not be good, only cheap
                            state ^= state << 13; state ^= state >> 7; state ^= state << 17
                            return Float(Int32(truncatingIfNeeded: state >> 32)) / Float(Int32.max)
                        }
                        var sha = SHA256()
                        sha.update(Array("text \(i)".utf8))
                        let entry = ChangelogEntry.event(user: "user-\((i &* 7919) % userCount)", modality: i % 5, eventID: "e\(i)",
                                                         timestampMs: now - Int64(1 + i % 80) * 86_400_000 + Int64(i),
                                                         textHash: sha.finalize(), vector: vector)
                        try await producer.send(KafkaProducerRecord(topic: topic, partition: 0, key: entry.key,
                                                                    value: entry.value(encoding: .float16)))
                    }
                }
            }
            try await group.waitForAll()
        }
        try await producer.close()
        // Peer: reading the same partition with a plain consumer (no decoding, no store) — the broker's ceiling.
        let peerSeconds = try await Self.plainRead(topic: topic, records: total, client: client, logger: logger)
        var storeConfiguration = StoreConfiguration(
            directory: directory.appendingPathComponent("wide"),
            modalities: ["bill", "app", "mini", "search", "spm"].map { ModalitySchema(name: $0, kind: .text, cap: 50, dimension: w) })
        storeConfiguration.windowMilliseconds = 90 * 86_400_000
        storeConfiguration.vectorEncoding = .float16  // as the daemon stores vectors that came through an fp16 changelog
        storeConfiguration.durability = Durability(rawValue: durability) ?? .durable
        let store = try EventStore(configuration: storeConfiguration, logger: logger)
        let restorer = ChangelogRestorer(topic: topic, client: client, store: store, logger: logger)
        let began = ContinuousClock.now, cpuBefore = BenchMachine.processCPUSeconds
        let restored = try await restorer.restore(partition: 0)
        let restoreSeconds = (ContinuousClock.now - began).seconds
        let restoreCPU = BenchMachine.processCPUSeconds - cpuBefore
        let stored = try store.statistics(includeCacheBytes: false)
        store.close()

        // What a rebuild does per event whose text is not cached: one BERT-base encode (32 tokens, batches of 64).
        let peer: [String: Any] = ["seconds": peerSeconds, "records_per_s": Double(total) / peerSeconds,
                                   "restore_over_plain_read": peerSeconds / restoreSeconds]
        guard rebuildTexts > 0 else { return ["restore": ["events": restored.events, "seconds": restoreSeconds, "cpu_seconds": restoreCPU,
                                                          "events_per_s": Double(restored.events) / restoreSeconds],
                                              "peer_plain_read": peer] }
        BLAS.setThreads(threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount)
        let encoder = try BertEncoder(randomWeights: BertConfiguration.base, seed: 7)
        var generator = SystemRandomNumberGenerator()
        let texts = (0..<64).map { _ in [Int32(101)] + (1..<32).map { _ in Int32.random(in: 1000..<29000, using: &generator) } }
        _ = try encoder.encodeCLS(texts)
        let encodeStart = ContinuousClock.now
        var encoded = 0
        repeat {
            _ = try encoder.encodeCLS(texts)
            encoded += texts.count
        } while encoded < rebuildTexts
        let textsPerSecond = Double(encoded) / (ContinuousClock.now - encodeStart).seconds
        let restoreRate = Double(restored.events) / restoreSeconds
        return [
            "vector_width": w, "vector_encoding": "float16", "store_durability": durability,
            "restore": ["changelog_records": restored.records, "events": restored.events, "stored_events": stored.eventsByModality.values.reduce(0, +),
                        "seconds": restoreSeconds, "cpu_seconds": restoreCPU, "events_per_s": restoreRate,
                        "target_events_per_s": 50_000],
            "rebuild_bound_bert_base": ["texts_per_s": textsPerSecond, "tokens_per_text": 32, "texts_timed": encoded],
            "restore_over_rebuild_rate": restoreRate / textsPerSecond, "target_ratio": 20, "peer_plain_read": peer,
        ]
    }
}
