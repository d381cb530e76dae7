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
struct ChangelogRestorer: Sendable {
    let topic: String
    let client: KafkaClientConfiguration
    let store: EventStore
    let metrics: DaemonMetrics
    let logger: Logger
    /// Records per store write.
    var chunk = 4000

    /// What a restore did.
    struct Result: Sendable {
        var records = 0
        var events = 0
        var refreshes = 0
        var corrupt = 0
        var cancelled = false
    }

    /// Applies the changelog of `partition` from the stored position to its current end (or, with `follow`, until
    /// `isCancelled`). Throws on a Kafka or store failure (the position reached so far is kept).
    func restore(partition: Int32, follow: Bool = false, isCancelled: @escaping @Sendable () -> Bool) async throws -> Result {
        if case .journaled = store.configuration.commitMode { try await store.checkpoint() }
        let tp = KafkaTopicPartition(topic, partition)
        let stored = try store.storedOffsets(partition: partition).first { $0.topic == topic }?.nextOffset
        var result = Result()
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: nil, autoOffsetReset: .earliest, reportsEndOfPartition: true,
            maxBatchSize: chunk, pauseAbove: 4 * chunk, resumeBelow: chunk), logger: logger)
        try consumer.assign([tp: stored.map { .exactly($0) } ?? .beginning])
        // Cancellation is polled: the consumer hands over a batch (or nothing) at least every 100 ms.
        let watchdog = Task {
            while !Task.isCancelled, !isCancelled() { try? await Task.sleep(for: .milliseconds(50)) }
            await consumer.close()
        }
        defer { watchdog.cancel() }
        var applier = Applier(partition: partition, changelogTopic: topic, store: store, metrics: metrics, logger: logger)
        var expected = stored
        loop: for await event in consumer.events {
            if isCancelled() { result.cancelled = true; break }
            switch event {
            case .records(let records):
                if let first = records.first, let want = expected, first.offset < want {
                    // The log restarted below our position (the changelog was recreated): local state is from
                    // another log. Drop it and restore from the beginning.
                    logger.warning("changelog position beyond the log; dropping the partition's local state and restoring it anew",
                                   metadata: ["partition": "\(partition)", "position": "\(want)", "first": "\(first.offset)"])
                    await consumer.close()
                    _ = try await store.dropPartition(partition)
                    return try await restore(partition: partition, follow: follow, isCancelled: isCancelled)
                }
                expected = nil
                try await applier.apply(records, into: &result)
            case .endOfPartition:
                if !follow { break loop }
            case .error(let error):
                if error.isFatal { throw error }
                logger.debug("changelog read error", metadata: ["partition": "\(partition)", "error": "\(error)"])
            case .assigned, .revoked, .statistics:
                break
            }
        }
        result.cancelled = result.cancelled || isCancelled()
        await consumer.close()
        return result
    }

    /// Decodes and stores changelog records of one partition.
    struct Applier {
        let partition: Int32
        let changelogTopic: String
        let store: EventStore
        let metrics: DaemonMetrics
        let logger: Logger

        mutating func apply(_ records: [KafkaConsumerRecord], into result: inout Result) async throws {
            guard let last = records.last else { return }
            var events: [IngestEvent] = []
            var cache: [ContentCacheEntry] = []
            var refreshes: [String: RestoredRefresh] = [:]
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
                    cache.append(ContentCacheEntry(modality: m, textHash: hash, vector: vector))
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
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            if !events.isEmpty {
                _ = try await store.ingest(IngestBatch(events: events, cacheEntries: cache, nowMs: nowMs))
            }
            let positions = offsets.map { SourceOffset(topic: $0.key, partition: partition, nextOffset: $0.value) }
                + [SourceOffset(topic: changelogTopic, partition: partition, nextOffset: last.offset + 1)]
            _ = try await store.restoreRefreshes(Array(refreshes.values), offsets: positions)
            result.records += records.count
            result.events += events.count
            result.refreshes += refreshes.count
        }
    }
}
