import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// Turns one batch of input records into one store transaction (docs/daemon.md "Input records", docs/store.md):
///
///     records ─► parse + validate ─┬─► rejected ─► dead-letter topic (awaited before the commit)
///                                  └─► valid ─► text hash ─► content cache ─(misses)─► BERT (batched) ─┐
///     store.ingest(events + vectors + cache entries + dirty marks + source offsets)  ◄──────────────────┘
///
/// Offsets cover every record of the batch, rejected ones included, and are written in the same transaction as
/// the events, so a crash at any point loses nothing and applies nothing twice. Only texts missing from the content
/// cache are encoded.
///
/// With a changelog (docs/daemon.md "Changelog"), the batch's new events (with their vectors), snapshots and input
/// offsets are written to it first and the store commit follows with the changelog position (`ChangelogWriter`);
/// dead letters, changelog and store commit run under a lease on the batch's partitions, so records of a partition
/// revoked meanwhile are left to its next owner. Fresh vectors are rounded to the changelog's encoding before use,
/// so every owner of a user computes on the same numbers.
///
/// Threading: `ingest` is called by one task at a time (the ingest loop).
public final class Ingestor: Sendable {
    /// Which modality a topic carries.
    public struct Route: Sendable {
        public var modality: Int
        public var name: String
        public var kind: EventParser.Kind
    }

    let routes: [String: Route]
    let parser: EventParser
    let store: EventStore
    let executor: ModelExecutor
    /// Where dead letters go; nil: they are only counted (a replay that must not repeat the live daemon's).
    let producer: KafkaProducer?
    let deadLetterTopic: String
    let metrics: DaemonMetrics
    let logger: Logger
    /// Texts per encoder call.
    let encodeBatch = 64
    /// The live daemon's partition fence (nil: a replay, which owns nothing and needs none).
    let ownership: PartitionOwnership?
    let changelog: ChangelogWriter?
    /// Checks keyed records against the configured partitioner (nil: no check).
    let routing: UserRouting?

    init(routes: [String: Route], parser: EventParser, store: EventStore, executor: ModelExecutor,
         producer: KafkaProducer?, deadLetterTopic: String, ownership: PartitionOwnership? = nil,
         changelog: ChangelogWriter? = nil, routing: UserRouting? = nil, metrics: DaemonMetrics, logger: Logger) {
        self.ownership = ownership
        self.changelog = changelog
        self.routing = routing
        self.routes = routes
        self.parser = parser
        self.store = store
        self.executor = executor
        self.producer = producer
        self.deadLetterTopic = deadLetterTopic
        self.metrics = metrics
        self.logger = logger
    }

    /// Runs `commit`; while it fails because the store is full, waits as `spaceWait` says and tries again.
    private func withRoomInTheStore<T>(_ spaceWait: StoreSpaceWait?, _ commit: () async throws -> T) async throws -> T {
        var pause = spaceWait?.initialPause ?? .zero
        var waiting = false
        defer { if waiting { metrics.storeFull.set(Double(0)) } }
        while true {
            do {
                let result = try await commit()
                if waiting { logger.notice("the store has room again: ingest resumed") }
                return result
            } catch {
                guard let spaceWait, StoreSpaceWait.isStoreFull(error), !spaceWait.shouldStop() else { throw error }
                if !waiting {
                    waiting = true
                    metrics.storeFull.set(Double(1))
                    logger.error("the store is full: ingest waits for room (raise store.max_map_size_mb, or let events expire)",
                                 metadata: ["error": "\(error)"])
                }
                metrics.storeFullWaits.increment()
                await spaceWait.freeSpace()
                await spaceWait.pause(pause)
                pause = min(pause * 2, spaceWait.maximumPause)
            }
        }
    }

    /// What one batch did.
    public struct Summary: Sendable, Equatable {
        public var records = 0
        public var rejected = 0
        /// Rejected records by reason code.
        public var rejections: [String: Int] = [:]
        public var encoded = 0
        public var cacheHits = 0
        public var store = IngestResult()
        /// Next offset per partition, as written to the store.
        public var offsets: [KafkaTopicPartition: Int64] = [:]
    }

    /// Validates, encodes and stores one batch. With `writeOffsets: false` (replay) the store's source offsets are
    /// left as they are: events are deduplicated, so re-reading a range changes only what was missing.
    /// `spaceWait`: how the commit waits for room when the store is full (nil: the store's error fails the batch).
    public func ingest(_ records: [KafkaConsumerRecord], nowMs: Int64, writeOffsets: Bool = true,
                       spaceWait: StoreSpaceWait? = nil) async throws -> Summary {
        var summary = Summary()
        summary.records = records.count
        var valid: [(record: KafkaConsumerRecord, event: InputEvent)] = []
        var letters: [DeadLetter] = []
        for record in records {
            let next = record.offset + 1
            summary.offsets[record.topicPartition] = max(summary.offsets[record.topicPartition] ?? 0, next)
            guard let route = routes[record.topic] else {
                letters.append(DeadLetter(source: record, rejection: EventRejection(.unknownTopic, "no modality reads topic \(record.topic)"),
                                          rejectedAtMs: nowMs))
                metrics.events(modality: "unknown", outcome: "rejected").increment()
                continue
            }
            switch parser.parse(value: record.value, key: record.key, modality: route.modality, kind: route.kind, nowMs: nowMs) {
            case .success(let event):
                valid.append((record, event))
                if record.key?.isEmpty ?? true {
                    metrics.unkeyedRecords.increment()
                } else if let routing, let key = record.key, let expected = routing.partition(ofKey: key),
                          expected != record.partition {
                    metrics.partitionerMismatches.increment()
                }
            case .failure(let rejection):
                letters.append(DeadLetter(source: record, rejection: rejection, rejectedAtMs: nowMs))
                metrics.events(modality: route.name, outcome: "rejected").increment()
            }
        }
        // Vectors for text events: content cache first, then the encoder for what is missing. Each text is hashed
        // once (its content-cache key).
        let hashes: [[UInt8]?] = valid.map { item in
            if case .text(let text) = item.event.payload { return Self.textHash(text) }
            return nil
        }
        var vectors: [Int: [[UInt8]: [Float]]] = [:]  // modality → text hash → h
        var cacheEntries: [ContentCacheEntry] = []
        var textsByModality: [Int: [[UInt8]: String]] = [:]
        for ((_, event), hash) in zip(valid, hashes) {
            guard let hash, case .text(let text) = event.payload else { continue }
            textsByModality[event.modality, default: [:]][hash] = text
        }
        for (modality, texts) in textsByModality {
            let entries = Array(texts)
            let cached = try store.cachedVectors(modality: modality, textHashes: entries.map(\.key))
            var missing: [(hash: [UInt8], text: String)] = []
            for (entry, vector) in zip(entries, cached) {
                if let vector { vectors[modality, default: [:]][entry.key] = vector } else { missing.append((entry.key, entry.value)) }
            }
            summary.cacheHits += entries.count - missing.count
            metrics.contentCache("hit").increment(by: Int64(entries.count - missing.count))
            metrics.contentCache("miss").increment(by: Int64(missing.count))
            guard let name = routes.values.first(where: { $0.modality == modality })?.name else { continue }
            for start in stride(from: 0, to: missing.count, by: encodeBatch) {
                let chunk = Array(missing[start..<min(start + encodeBatch, missing.count)])
                let began = ContinuousClock.now
                let encoded = try await executor.run { model in try model.eventVectors(modality: name, texts: chunk.map(\.text)) }
                metrics.latency("encode").record(ContinuousClock.now - began)
                metrics.textsEncoded.increment(by: Int64(chunk.count))
                summary.encoded += chunk.count
                for (item, fresh) in zip(chunk, encoded) {
                    let vector = changelog?.encoding.rounded(fresh) ?? fresh
                    vectors[modality, default: [:]][item.hash] = vector
                    cacheEntries.append(ContentCacheEntry(modality: modality, textHash: item.hash, vector: vector))
                }
            }
        }

        // From here on the batch writes for its partitions: only those still owned, under a lease.
        let lease = ownership?.lease(Set(records.map(\.partition)))
        defer { if let lease { ownership?.release(lease) } }
        if let lease {
            let owned = { (tp: KafkaTopicPartition) in lease.partitions.contains(tp.partition) }
            let skipped = records.count(where: { !owned($0.topicPartition) })
            if skipped > 0 {
                metrics.revokedRecordsSkipped.increment(by: Int64(skipped))
                letters.removeAll { !owned($0.source.topicPartition) }
                summary.offsets = summary.offsets.filter { owned($0.key) }
            }
        }
        try await sendDeadLetters(letters)
        summary.rejected = letters.count
        for letter in letters { summary.rejections[letter.rejection.code.rawValue, default: 0] += 1 }

        var events: [IngestEvent] = []
        events.reserveCapacity(valid.count)
        for ((record, event), hash) in zip(valid, hashes) {
            if let lease, !lease.partitions.contains(record.partition) { continue }
            let user = UserKey(partition: record.partition, userID: event.userID)
            let content: IngestEvent.Content
            switch event.payload {
            case .text:
                guard let hash, let vector = vectors[event.modality]?[hash] else { continue }
                content = .text(vector: vector, textHash: hash)
            case .features(let features):
                content = .tabular(features: features)
            }
            events.append(IngestEvent(user: user, modality: event.modality, eventID: event.eventID,
                                      timestampMs: event.timestampMs, content: content))
            if let route = routes[record.topic] { metrics.events(modality: route.name, outcome: "accepted").increment() }
        }
        let offsets = writeOffsets
            ? summary.offsets.map { SourceOffset(topic: $0.key.topic, partition: $0.key.partition, nextOffset: $0.value) } : []
        let began = ContinuousClock.now
        if let changelog {
            let entries = try changelogEntries(events, offsets: offsets, nowMs: nowMs)
            let (store, cache) = (self.store, cacheEntries)
            summary.store = try await withRoomInTheStore(spaceWait) {
                try await changelog.commit(entries) { positions in
                    try await store.ingest(IngestBatch(events: events, offsets: offsets + positions, cacheEntries: cache, nowMs: nowMs))
                }
            }
            changelog.tombstones(for: summary.store.removed)
        } else {
            let batch = IngestBatch(events: events, offsets: offsets, cacheEntries: cacheEntries, nowMs: nowMs)
            summary.store = try await withRoomInTheStore(spaceWait) { try await store.ingest(batch) }
        }
        metrics.latency("ingest_commit").record(ContinuousClock.now - began)
        for (outcome, count) in [("stored", summary.store.stored), ("duplicate", summary.store.duplicates),
                                 ("outside_window", summary.store.outsideWindow), ("superseded", summary.store.superseded)]
        where count > 0 {
            metrics.events(modality: "all", outcome: outcome).increment(by: Int64(count))
        }
        logger.debug("ingested batch", metadata: [
            "records": "\(summary.records)", "rejected": "\(summary.rejected)", "encoded": "\(summary.encoded)",
            "cache_hits": "\(summary.cacheHits)", "stored": "\(summary.store.stored)",
            "duplicates": "\(summary.store.duplicates)",
        ])
        return summary
    }

    /// Moves the stored positions of input partitions (owned ones only, under a lease) to `offsets` — backwards too:
    /// the changelog first, then the store, as a batch would. For a log that moved under the daemon (docs/daemon.md
    /// "When the input log moves under the daemon"). Returns the offsets written.
    @discardableResult
    func resetOffsets(_ offsets: [SourceOffset], nowMs: Int64) async throws -> [SourceOffset] {
        let lease = ownership?.lease(Set(offsets.map(\.partition)))
        defer { if let lease { ownership?.release(lease) } }
        let granted = offsets.filter { lease?.partitions.contains($0.partition) ?? true }
        guard !granted.isEmpty else { return [] }
        if let changelog {
            let entries = Dictionary(grouping: granted, by: \.partition)
                .mapValues { $0.map { ChangelogEntry.offset(topic: $0.topic, nextOffset: $0.nextOffset) } }
            let store = self.store
            _ = try await changelog.commit(entries) { positions in
                try await store.ingest(IngestBatch(events: [], offsets: granted + positions, nowMs: nowMs))
            }
        } else {
            _ = try await store.ingest(IngestBatch(events: [], offsets: granted, nowMs: nowMs))
        }
        return granted
    }

    /// The changelog entries of a batch, by partition: the events the store does not hold yet and that are inside the
    /// window (with their vectors), tabular snapshots, and the input offsets.
    private func changelogEntries(_ events: [IngestEvent], offsets: [SourceOffset], nowMs: Int64) throws -> [Int32: [ChangelogEntry]] {
        let cutoff = nowMs - store.configuration.windowMilliseconds
        let known = try store.containsEvents(events.map { ($0.user, $0.modality, $0.eventID) })
        var entries: [Int32: [ChangelogEntry]] = [:]
        for (event, stored) in zip(events, known) where !stored && event.timestampMs >= cutoff {
            let entry: ChangelogEntry
            switch event.content {
            case .text(let vector, let textHash):
                entry = .event(user: event.user.userID, modality: event.modality, eventID: event.eventID,
                               timestampMs: event.timestampMs, textHash: textHash, vector: vector)
            case .tabular(let features):
                entry = .snapshot(user: event.user.userID, modality: event.modality, eventID: event.eventID,
                                  timestampMs: event.timestampMs, features: features)
            }
            entries[event.user.partition, default: []].append(entry)
        }
        for offset in offsets {
            entries[offset.partition, default: []].append(.offset(topic: offset.topic, nextOffset: offset.nextOffset))
        }
        return entries
    }

    /// Produces every dead letter and waits for all acknowledgements (so none is lost if we crash right after the
    /// store commit that moves the offsets past them).
    private func sendDeadLetters(_ letters: [DeadLetter]) async throws {
        guard !letters.isEmpty else { return }
        guard let producer = self.producer else {
            for letter in letters { metrics.deadLetters(reason: letter.rejection.code.rawValue).increment() }
            return
        }
        let topic = deadLetterTopic, logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            for letter in letters {
                group.addTask {
                    do {
                        try await producer.send(letter.record(topic: topic))
                    } catch let error as KafkaError where DeadLetter.isRefusedForContent(error) {
                        // A permanent refusal of this record (e.g. larger than message.max.bytes): keep the rejection
                        // and where it came from, drop the value. Other errors (authorization, broker down) stop ingest.
                        logger.warning("dead letter refused; sending it without the value", metadata: [
                            "topic": "\(letter.source.topic)", "partition": "\(letter.source.partition)",
                            "offset": "\(letter.source.offset)", "error": "\(error.code.name)",
                        ])
                        try await producer.send(letter.recordWithoutValue(topic: topic, dropped: error.code))
                    }
                }
            }
            try await group.waitForAll()
        }
        for letter in letters {
            metrics.deadLetters(reason: letter.rejection.code.rawValue).increment()
            logger.info("record rejected", metadata: [
                "topic": "\(letter.source.topic)", "partition": "\(letter.source.partition)",
                "offset": "\(letter.source.offset)", "reason": "\(letter.rejection.code.rawValue)",
            ])
            logger.debug("rejection detail", metadata: ["detail": "\(letter.rejection.detail)"])
        }
    }

    /// The content-cache key of an event text: SHA-256 of its UTF-8 bytes.
    static func textHash(_ text: String) -> [UInt8] {
        var sha = SHA256()
        sha.update(Array(text.utf8))
        return sha.finalize()
    }
}
