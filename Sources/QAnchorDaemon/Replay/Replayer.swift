import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// `qanchor replay`: a bounded backfill of the input topics into the store (docs/daemon.md "Replay"), outside the live consumer
/// group. `plan` decides the offset ranges without touching the store (the dry run); `execute` reads exactly those
/// ranges with an unassigned consumer (no group: nothing is committed anywhere) and sends each batch through the
/// daemon's own ingest path — validation, content cache, encoder, one store transaction — except that the store's
/// source offsets are left alone and dead letters are only counted unless asked for. Events are deduplicated, so a
/// replay adds only what is missing and marks those users dirty; the daemon's next refresh publishes them.
///
/// Lifecycle: `plan` needs only Kafka. `execute` takes the store's `StoreLock` (the daemon must be stopped), loads
/// the bundle, and closes everything before returning. Threading: one call at a time.
public struct Replayer: Sendable {
    public let configuration: DaemonConfiguration
    public let logger: Logger

    public init(configuration: DaemonConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// What one replay did.
    public struct Summary: Sendable, Equatable {
        public var recordsRead = 0
        /// Inside the offset ranges but outside the time range.
        public var skippedOutsideTimeRange = 0
        public var rejected: [String: Int] = [:]
        public var encoded = 0
        public var cacheHits = 0
        public var store = IngestResult()
        /// Users waiting for a refresh when the replay finished (all of the store's, not only the replay's).
        public var dirtyUsersAfter = 0

        public var jsonObject: [String: Any] {
            ["records_read": recordsRead, "skipped_outside_time_range": skippedOutsideTimeRange,
             "rejected": rejected, "encoded": encoded, "cache_hits": cacheHits,
             "stored": store.stored, "duplicates": store.duplicates, "outside_window": store.outsideWindow,
             "superseded": store.superseded, "pruned": store.pruned, "dirty_users_after": dirtyUsersAfter]
        }
    }

    // MARK: Plan

    /// Resolves the request into offset ranges, per selected input topic-partition.
    public func plan(_ request: ReplayRequest, manifest: BundleManifest) async throws -> ReplayPlan {
        let modalities = manifest.modalities.map(\.name).filter { request.modalities?.contains($0) ?? true }
        if let wanted = request.modalities, let unknown = wanted.subtracting(manifest.modalities.map(\.name)).first {
            throw ConfigurationError(key: "--modalities", problem: "the bundle has no modality '\(unknown)'")
        }
        let topics = modalities.map { configuration.topics.input(for: $0) }
        let client = Daemon.kafkaClient(configuration)
        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        let metadata: KafkaClusterMetadata
        do { metadata = try await admin.metadata(topics: topics) } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        var partitions: [KafkaTopicPartition] = []
        for topic in topics {
            guard let t = metadata.topic(topic), t.error == nil else {
                throw ConfigurationError(key: "topics.inputs", problem: "input topic '\(topic)' does not exist")
            }
            partitions += t.partitions.map(\.id).filter { request.partitions?.contains($0) ?? true }
                .sorted().map { KafkaTopicPartition(topic, $0) }
        }
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: client, groupID: nil),
                                         logger: logger)
        defer { Task { await consumer.close() } }
        var marks: [KafkaTopicPartition: KafkaWatermarks] = [:]
        for tp in partitions { marks[tp] = try await consumer.queryWatermarks(tp) }
        func resolve(_ time: Int64) async throws -> [KafkaTopicPartition: Int64?] {
            try await consumer.offsets(forTimes: Dictionary(uniqueKeysWithValues: partitions.map { ($0, time) }))
        }
        var starts: [KafkaTopicPartition: Int64] = [:]
        var ends: [KafkaTopicPartition: Int64?] = [:]
        switch request.from {
        case nil: for tp in partitions { starts[tp] = marks[tp]!.low }
        case .offset(let o)?: for tp in partitions { starts[tp] = max(o, marks[tp]!.low) }
        case .time(let t)?:
            // No record at or after the time: nothing to read (start at the end).
            let found = try await resolve(t)
            for tp in partitions { starts[tp] = max((found[tp] ?? nil) ?? marks[tp]!.high, marks[tp]!.low) }
        }
        switch request.to {
        case nil: for tp in partitions { ends[tp] = .some(nil) }
        case .offset(let o)?: for tp in partitions { ends[tp] = max(o, starts[tp]!) }
        case .time(let t)?:
            // The first record at or after `to` ends the range; none (or an answer before the start): read to the end,
            // the time filter keeps the bound.
            let found = try await resolve(t)
            for tp in partitions {
                if let o = found[tp] ?? nil, o > starts[tp]! { ends[tp] = o } else { ends[tp] = .some(nil) }
            }
        }
        var fromMs: Int64?, toMs: Int64?
        if case .time(let t)? = request.from { fromMs = t }
        if case .time(let t)? = request.to { toMs = t }
        return ReplayPlan(fromMs: fromMs, toMs: toMs, ranges: partitions.map { tp in
            ReplayPlan.Range(topic: tp.topic, partition: tp.partition, startOffset: starts[tp]!,
                             endOffset: ends[tp] ?? nil, highWatermark: marks[tp]!.high)
        })
    }

    // MARK: Execute

    /// Reads the plan's ranges into the store. `sendDeadLetters`: rejected records also go to the dead-letter
    /// topic (off by default: the live daemon already sent them once). `progress` is called after each batch.
    public func execute(_ plan: ReplayPlan, sendDeadLetters: Bool = false,
                        progress: @Sendable (Summary) -> Void = { _ in }) async throws -> Summary {
        // Taken before the model loads; the store releases it when it closes (or its deinit, if opening fails).
        let lock = try StoreLock.exclusive(directory: URL(fileURLWithPath: configuration.store.path))
        let model = try Daemon.loadModel(configuration)
        let serving = try ServingScenarios(model: model, configured: configuration.scenarios.extra)
        let routes = try Daemon.routes(configuration, manifest: model.manifest, scenarios: serving.ids)
        let store = try EventStore(configuration: Daemon.storeConfiguration(configuration, model: model), logger: logger,
                                   lock: lock)
        defer { store.close() }
        let client = Daemon.kafkaClient(configuration)
        let producer = sendDeadLetters ? try KafkaProducer(configuration: KafkaProducerConfiguration(client: client),
                                                           logger: logger) : nil
        let ingestor = Ingestor(routes: routes, parser: Daemon.parser(configuration, manifest: model.manifest),
                                store: store, executor: ModelExecutor(model: model), producer: producer,
                                deadLetterTopic: configuration.topics.deadLetter, metrics: DaemonMetrics(), logger: logger)
        var summary = Summary()
        do {
            summary = try await read(plan, into: ingestor, progress: progress)
            summary.dirtyUsersAfter = try store.statistics(includeCacheBytes: false).dirtyUsers
        } catch {
            try? await producer?.close(timeout: .seconds(10))
            throw error
        }
        try await producer?.close(timeout: .seconds(30))
        return summary
    }

    private func read(_ plan: ReplayPlan, into ingestor: Ingestor, progress: @Sendable (Summary) -> Void) async throws -> Summary {
        var summary = Summary()
        let open = plan.ranges.filter { r in r.endOffset.map { $0 > r.startOffset } ?? true }
        guard !open.isEmpty else { return summary }
        let ends = Dictionary(uniqueKeysWithValues: open.map { ($0.topicPartition, $0.endOffset) })
        var pending = Set(open.map(\.topicPartition))
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: Daemon.kafkaClient(configuration), groupID: nil, reportsEndOfPartition: true,
            maxBatchSize: configuration.ingest.batchSize), logger: logger)
        do {
            try consumer.assign(Dictionary(uniqueKeysWithValues: open.map { ($0.topicPartition, KafkaOffset.exactly($0.startOffset)) }))
            for await event in consumer.events {
                switch event {
                case .records(let records):
                    var finished: [KafkaTopicPartition] = []
                    var kept: [KafkaConsumerRecord] = []
                    for record in records where pending.contains(record.topicPartition) {
                        let tp = record.topicPartition
                        if let end = ends[tp] ?? nil {
                            if record.offset >= end { finished.append(tp); continue }
                            if record.offset + 1 >= end { finished.append(tp) }
                        }
                        summary.recordsRead += 1
                        if let ts = record.timestampMs,
                           (plan.fromMs.map { ts < $0 } ?? false) || (plan.toMs.map { ts >= $0 } ?? false) {
                            summary.skippedOutsideTimeRange += 1
                            continue
                        }
                        kept.append(record)
                    }
                    if !kept.isEmpty {
                        let batch = try await ingestor.ingest(kept, nowMs: Daemon.nowMs(), writeOffsets: false)
                        summary.add(batch)
                    }
                    progress(summary)
                    finish(finished, &pending, consumer)
                case .endOfPartition(let tp, _):
                    finish([tp], &pending, consumer)
                case .error(let error):
                    if error.isFatal { throw error }
                    logger.debug("consumer error during replay", metadata: ["error": "\(error)"])
                case .assigned, .revoked, .statistics:
                    break
                }
                if pending.isEmpty { break }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
        return summary
    }

    private func finish(_ partitions: [KafkaTopicPartition], _ pending: inout Set<KafkaTopicPartition>,
                        _ consumer: KafkaConsumer) {
        let done = partitions.filter { pending.remove($0) != nil }
        if !done.isEmpty { try? consumer.pause(done) }
    }
}

extension Replayer.Summary {
    mutating func add(_ batch: Ingestor.Summary) {
        for (reason, count) in batch.rejections { rejected[reason, default: 0] += count }
        encoded += batch.encoded
        cacheHits += batch.cacheHits
        store.stored += batch.store.stored
        store.duplicates += batch.store.duplicates
        store.outsideWindow += batch.store.outsideWindow
        store.superseded += batch.store.superseded
        store.pruned += batch.store.pruned
    }
}
