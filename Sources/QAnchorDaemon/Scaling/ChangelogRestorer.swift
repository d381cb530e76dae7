import Foundation
import Logging
import QAnchorKafka
import QAnchorStore

/// Brings one partition's local state up to date from the changelog (docs/daemon.md "Restore"): reads the
/// changelog partition from the position the store covers (the beginning when it has none) to its end and applies
/// every entry — events with their vectors (no encoder call: each vector also fills the content cache), snapshots,
/// refresh records (versions, input digests, outputs) and input offsets — in chunks, each chunk one or two store
/// transactions that also advance the stored changelog position. An interrupted restore resumes where it stopped.
///
/// The same code serves a partition newly assigned without local state (a full restore), one whose local state is
/// behind (a catch-up after a restart or a move back), and a standby tailing a partition it does not own.
///
/// Threading: `restore` runs on the calling task; several may run at once for different partitions.
public struct ChangelogRestorer: Sendable {
    let topic: String
    let client: KafkaClientConfiguration
    let store: EventStore
    let metrics: DaemonMetrics
    let logger: Logger
    /// Records per store write.
    var chunk = 4000

    /// A restorer reading `topic` with `client` into `store`.
    public init(topic: String, client: KafkaClientConfiguration, store: EventStore, metrics: DaemonMetrics = DaemonMetrics(),
                logger: Logger) {
        self.topic = topic
        self.client = client
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    /// What a restore did.
    public struct Result: Sendable {
        public var records = 0
        public var events = 0
        public var refreshes = 0
        public var corrupt = 0
        public var cancelled = false
    }

    /// Applies the changelog of `partition` from the stored position to its current end (or, with `follow`, until
    /// the calling task is cancelled). Stops early — `Result.cancelled` — when the task is cancelled or `isCancelled`
    /// says so (checked per batch). Throws on a Kafka or store failure (the position reached so far is kept).
    public func restore(partition: Int32, follow: Bool = false,
                        isCancelled: @escaping @Sendable () -> Bool = { false }) async throws -> Result {
        try await run(partition: partition, follow: follow) { isCancelled() || Task.isCancelled }
    }

    private func run(partition: Int32, follow: Bool, stopRequested isCancelled: @escaping @Sendable () -> Bool) async throws -> Result {
        if case .journaled = store.configuration.commitMode { try await store.checkpoint() }
        let tp = KafkaTopicPartition(topic, partition)
        let stored = try store.storedOffsets(partition: partition).first { $0.topic == topic }?.nextOffset
        // Large fetches: a restore reads one partition as fast as the broker can send it (1.5 KB per event at 768-d).
        var readClient = client
        for (key, value) in [("max.partition.fetch.bytes", "16777216"), ("fetch.max.bytes", "67108864")]
        where readClient.properties[key] == nil { readClient.properties[key] = value }
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: readClient, groupID: nil, autoOffsetReset: .earliest, reportsEndOfPartition: true,
            maxBatchSize: chunk, pauseAbove: 16 * chunk, resumeBelow: 8 * chunk), logger: logger)
        do {
            try consumer.assign([tp: stored.map { .exactly($0) } ?? .beginning])
            return try await withTaskCancellationHandler {
                try await read(consumer, partition: partition, stored: stored, follow: follow, isCancelled: isCancelled)
            } onCancel: {
                Task { await consumer.close() }  // ends `events`, hence the read loop
            }
        } catch {
            await consumer.close()
            throw error
        }
    }

    private func read(_ consumer: KafkaConsumer, partition: Int32, stored: Int64?, follow: Bool,
                      isCancelled: @escaping @Sendable () -> Bool) async throws -> Result {
        var result = Result()
        var decoder = ChangelogDecoder(partition: partition, changelogTopic: topic, store: store, metrics: metrics, logger: logger)
        // Chunks are written in order while the next ones are fetched and decoded (at most two writes queued): the
        // store's writer thread, librdkafka's fetcher and the decoding task work at the same time.
        var writing: [Task<Void, any Error>] = []
        // On a failure, no write of this restore may still be running when the caller retries.
        func drain() async { for task in writing { _ = try? await task.value } }
        var expected = stored
        func restartFromScratch(_ found: Int64) async throws -> Result {
            // The log restarted below our position (the changelog was recreated): local state is from another log.
            // Drop it and restore from the beginning.
            logger.warning("changelog position beyond the log; dropping the partition's local state and restoring it anew",
                           metadata: ["partition": "\(partition)", "position": "\(stored ?? 0)", "found": "\(found)"])
            await consumer.close()
            await drain()
            _ = try await store.dropPartition(partition)
            return try await run(partition: partition, follow: follow, stopRequested: isCancelled)
        }
        do {
            loop: for await event in consumer.events {
                if isCancelled() { result.cancelled = true; break }
                switch event {
                case .records(let records):
                    if let first = records.first, let want = expected, first.offset < want {
                        return try await restartFromScratch(first.offset)
                    }
                    expected = nil
                    let chunk = try decoder.decode(records, into: &result).prepared(for: store)
                    if writing.count == 2 { try await writing.removeFirst().value }
                    let previous = writing.last
                    writing.append(Task { [store] in
                        try await previous?.value  // in order: the stored position only moves forward
                        try await chunk.write(to: store)
                    })
                case .endOfPartition(_, let end):
                    if let want = expected, end < want { return try await restartFromScratch(end) }
                    expected = nil
                    if !follow { break loop }
                case .error(let error):
                    if error.isFatal { throw error }
                    logger.debug("changelog read error", metadata: ["partition": "\(partition)", "error": "\(error)"])
                case .assigned, .revoked, .statistics:
                    break
                }
            }
            for task in writing { try await task.value }
        } catch {
            await drain()
            throw error
        }
        result.cancelled = result.cancelled || isCancelled()
        await consumer.close()
        return result
    }

    /// What one chunk of changelog records writes to the store.
    struct Chunk: Sendable {
        var events: [IngestEvent] = []
        var cache: [ContentCacheEntry] = []
        var refreshes: [RestoredRefresh] = []
        var reserved: [ReservedVersion] = []
        /// Input offsets reached and the changelog position after the chunk.
        var positions: [SourceOffset] = []
        var nowMs: Int64 = 0

        /// The events (with the positions when there are no refresh records), validated and encoded for the store.
        var ingest: PreparedIngest?

        /// Encodes the chunk's ingest on the calling task (while the writer thread applies earlier chunks).
        func prepared(for store: EventStore) throws -> Chunk {
            var chunk = self
            if refreshes.isEmpty && reserved.isEmpty {
                if !events.isEmpty || !positions.isEmpty {
                    chunk.ingest = try store.prepare(IngestBatch(events: events, offsets: positions, cacheEntries: cache, nowMs: nowMs))
                }
            } else if !events.isEmpty {
                chunk.ingest = try store.prepare(IngestBatch(events: events, cacheEntries: cache, nowMs: nowMs))
            }
            chunk.events = []
            chunk.cache = []
            return chunk
        }

        /// One transaction when the chunk has no refresh records (the usual case), else two — the positions with
        /// the second, so a crash in between re-applies the chunk (idempotent) rather than skipping it.
        func write(to store: EventStore) async throws {
            if let ingest { _ = try await store.ingest(ingest) }
            if !(refreshes.isEmpty && reserved.isEmpty) {
                _ = try await store.restoreRefreshes(refreshes, reserved: reserved, offsets: positions)
            }
        }
    }

    /// Decodes changelog records of one partition into store writes.
    struct ChangelogDecoder {
        let partition: Int32
        let changelogTopic: String
        let store: EventStore
        let metrics: DaemonMetrics
        let logger: Logger
        /// Text hashes (first 8 bytes) seen in this restore: a text's vector goes to the content cache at its second
        /// occurrence — repeated texts (app and mini-program names, common bills) are what the cache is for; a text
        /// seen once is not worth a second copy of its vector. Bounded: past `seenLimit` hashes no more are tracked.
        var seenTexts: Set<UInt64> = []
        let seenLimit = 4_000_000
        var cached: Set<[UInt8]> = []

        mutating func decode(_ records: [KafkaConsumerRecord], into result: inout Result) -> Chunk {
            var chunk = Chunk()
            guard let last = records.last else { return chunk }
            var events: [IngestEvent] = []
            var cache: [ContentCacheEntry] = []
            var refreshes: [String: RestoredRefresh] = [:]
            var reserved: [String: UInt64] = [:]
            var offsets: [String: Int64] = [:]
            let modalities = store.configuration.modalities.count
            for record in records {
                let entry: ChangelogEntry
                do {
                    entry = try ChangelogEntry(key: record.key ?? [], value: record.value)
                } catch {
                    result.corrupt += 1
                    metrics.changelogRestored(outcome: "corrupt").increment()
                    logger.error("undecodable changelog record skipped", metadata: [
                        "partition": "\(partition)", "offset": "\(record.offset)", "error": "\(error)"])
                    continue
                }
                switch entry {
                case let .event(user, m, eventID, ts, hash, vector) where m < modalities:
                    let key = UserKey(partition: partition, userID: user)
                    events.append(IngestEvent(user: key, modality: m, eventID: eventID, timestampMs: ts,
                                              content: .text(vector: vector, textHash: hash)))
                    let short = hash.prefix(8).reduce(UInt64(m)) { $0 << 8 | UInt64($1) }
                    if seenTexts.contains(short) {
                        if cached.count < seenLimit, cached.insert([UInt8(truncatingIfNeeded: m)] + hash).inserted {
                            cache.append(ContentCacheEntry(modality: m, textHash: hash, vector: vector))
                        }
                    } else if seenTexts.count < seenLimit {
                        seenTexts.insert(short)
                    }
                case let .snapshot(user, m, eventID, ts, features) where m < modalities:
                    events.append(IngestEvent(user: UserKey(partition: partition, userID: user), modality: m,
                                              eventID: eventID, timestampMs: ts, content: .tabular(features: features)))
                case let .refresh(user, record, outputs):
                    // Within a chunk the newest record of a user wins (the store also never moves a version back).
                    if (refreshes[user]?.record.version ?? 0) <= record.version {
                        refreshes[user] = RestoredRefresh(user: UserKey(partition: partition, userID: user),
                                                          record: record, outputs: outputs)
                    }
                case let .offset(topic, next):
                    offsets[topic] = next
                case let .versionReserved(user, version):
                    reserved[user] = max(reserved[user] ?? 0, version)
                case .removedEvent:
                    break  // compaction's business: the cap and the window drop it anyway
                case .event, .snapshot:
                    result.corrupt += 1
                    metrics.changelogRestored(outcome: "corrupt").increment()
                    logger.error("changelog record names a modality this bundle lacks; skipped",
                                 metadata: ["partition": "\(partition)", "offset": "\(record.offset)"])
                    continue
                }
                metrics.changelogRestored(outcome: "applied").increment()
            }
            chunk.nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            chunk.events = events
            chunk.cache = cache
            chunk.refreshes = Array(refreshes.values)
            chunk.reserved = reserved.map { ReservedVersion(user: UserKey(partition: partition, userID: $0.key), version: $0.value) }
            chunk.positions = offsets.map { SourceOffset(topic: $0.key, partition: partition, nextOffset: $0.value) }
                + [SourceOffset(topic: changelogTopic, partition: partition, nextOffset: last.offset + 1)]
            result.records += records.count
            result.events += events.count
            result.refreshes += refreshes.count
            return chunk
        }
    }
}
