import Logging
import QAnchorKafka
import QAnchorStore
import Synchronization

/// Writes changelog entries (docs/daemon.md "Changelog") and orders them with the store commits they cover.
///
/// The rule that makes a crash at any instant lose nothing and apply nothing twice: **the changelog is written
/// first, the store second.** `commit` produces a batch's entries, waits until the broker acknowledged every one
/// (offset entries only after all event entries, so an acknowledged input position never covers an event the
/// changelog lacks), and only then runs the store commit, which also records the changelog position (the next
/// changelog offset) the local state now covers. So the changelog always holds at least what the store holds; a
/// crash in between leaves entries the store lacks, which the next catch-up applies (entries are idempotent).
/// Commits are serialised (one at a time, FIFO), so the position a commit records covers every entry before it.
///
/// Threading: any task may call `commit`; they queue.
final class ChangelogWriter: Sendable {
    let topic: String
    let encoding: VectorEncoding
    private let producer: KafkaProducer
    private let lock = AsyncLock()
    /// Tombstones waiting to ride along with the next write (they are only for compaction: no hurry, no round trip
    /// of their own). Bounded; beyond the bound they are dropped (a replay discards such events anyway).
    private let pendingTombstones = Mutex<(entries: [Int32: [ChangelogEntry]], count: Int)>(([:], 0))
    static let maxPendingTombstones = 200_000
    private let metrics: DaemonMetrics
    private let logger: Logger

    init(topic: String, encoding: VectorEncoding, producer: KafkaProducer, metrics: DaemonMetrics, logger: Logger) {
        self.topic = topic
        self.encoding = encoding
        self.producer = producer
        self.metrics = metrics
        self.logger = logger
    }

    /// Produces `entries` (partition → entries, offsets last), waits for every acknowledgement, then runs `store`
    /// with the changelog positions reached, all under the writer's lock. Throws (without running `store`) when
    /// any entry was not acknowledged.
    func commit<T: Sendable>(_ entries: [Int32: [ChangelogEntry]],
                             store: ([SourceOffset]) async throws -> T) async throws -> T {
        try await session { session in
            try await store(try await session.write(entries))
        }
    }

    /// Runs `body` holding the writer, for work that writes the changelog more than once before its store commit
    /// (a refresh: version reservations, publication, refresh records, store). No other commit interleaves, so the
    /// positions the last write returns cover everything `body` wrote.
    func session<T: Sendable>(_ body: (Session) async throws -> T) async throws -> T {
        try await lock.withLock { try await body(Session(writer: self)) }
    }

    /// The writer while a `session` holds it.
    struct Session {
        let writer: ChangelogWriter

        /// Produces `entries` (offset entries after all others) and returns the changelog positions reached: per
        /// partition, the offset after its last entry.
        func write(_ entries: [Int32: [ChangelogEntry]]) async throws -> [SourceOffset] {
            var last: [Int32: Int64] = [:]
            var unknown: Set<Int32> = []
            // Pending tombstones only for the partitions this write covers: those are leased by the caller, and the
            // positions returned must not move past another owner's entries for a partition this instance lost.
            let entries = entries.merging(writer.takeTombstones(for: Set(entries.keys))) { $1 + $0 }
            let events = entries.mapValues { $0.filter { if case .offset = $0 { return false } else { return true } } }
            let offsets = entries.mapValues { $0.filter { if case .offset = $0 { return true } else { return false } } }
            for phase in [events, offsets] {
                let reports = try await writer.send(phase)
                for (partition, offset) in reports {
                    if let offset { last[partition] = max(last[partition] ?? -1, offset) } else { unknown.insert(partition) }
                }
            }
            // A partition with an unreported offset (a retried idempotent send) keeps its previous position: the
            // next catch-up then re-reads a little more, which is harmless.
            return last.filter { !unknown.contains($0.key) }
                .map { SourceOffset(topic: writer.topic, partition: $0.key, nextOffset: $0.value + 1) }
        }
    }

    /// Best-effort tombstones for events that left the state, so compaction can drop their entries (a replay would
    /// drop them anyway: they are outside the window, or `K_m` newer events of the user are in the changelog).
    /// Without them the changelog would keep every event ever ingested. They go out with the next write.
    func tombstones(for removed: [RemovedEvent]) {
        guard !removed.isEmpty else { return }
        pendingTombstones.withLock { pending in
            for r in removed where pending.count < Self.maxPendingTombstones {
                pending.entries[r.user.partition, default: []].append(
                    .removedEvent(user: r.user.userID, modality: r.modality, eventID: r.eventID))
                pending.count += 1
            }
        }
    }

    /// Takes the pending tombstones of `partitions` (for a write to them).
    fileprivate func takeTombstones(for partitions: Set<Int32>) -> [Int32: [ChangelogEntry]] {
        pendingTombstones.withLock { pending in
            var taken: [Int32: [ChangelogEntry]] = [:]
            for partition in partitions {
                guard let list = pending.entries.removeValue(forKey: partition) else { continue }
                taken[partition] = list
                pending.count -= list.count
            }
            return taken
        }
    }

    /// Drops the pending tombstones of partitions this instance no longer owns (their next owner writes its own).
    func discardTombstones(for partitions: Set<Int32>) {
        pendingTombstones.withLock { pending in
            for partition in partitions {
                pending.count -= pending.entries.removeValue(forKey: partition)?.count ?? 0
            }
        }
    }

    /// Produces `entries` in order (one `sendAll`) and returns each one's partition and offset.
    func send(_ entries: [Int32: [ChangelogEntry]]) async throws -> [(Int32, Int64?)] {
        let flat = entries.sorted { $0.key < $1.key }.flatMap { partition, list in list.map { (partition, $0) } }
        let records = flat.map { KafkaProducerRecord(topic: topic, partition: $0.0, key: $0.1.key, value: $0.1.value(encoding: encoding)) }
        var out: [(Int32, Int64?)] = []
        out.reserveCapacity(flat.count)
        for ((partition, entry), result) in zip(flat, await producer.sendAll(records)) {
            switch result {
            case .success(let report):
                metrics.changelogRecords(kind: entry.kindName).increment()
                out.append((partition, report.offset))
            case .failure(let error):
                // A refresh record too large for the topic (its outputs): record the version alone, with no input
                // digest, so the next owner republishes the user (with the next version) instead of serving nothing.
                // Other entries cannot shrink: the failure stands.
                guard DeadLetter.isRefusedForContent(error), case let .refresh(user, record, outputs) = entry, !outputs.isEmpty else {
                    throw error
                }
                logger.warning("changelog refresh record refused for its size; writing it without outputs",
                               metadata: ["partition": "\(partition)", "error": "\(error.code.name)"])
                var bare = record
                bare.inputDigest = []
                let fallback = ChangelogEntry.refresh(user: user, record: bare, outputs: [:])
                let report = try await producer.send(KafkaProducerRecord(topic: topic, partition: partition, key: fallback.key,
                                                                         value: fallback.value(encoding: encoding)))
                metrics.changelogRecords(kind: fallback.kindName).increment()
                out.append((partition, report.offset))
            }
        }
        return out
    }
}

extension ChangelogEntry {
    /// The metric label of the entry's kind.
    var kindName: String {
        switch self {
        case .event: return "event"
        case .removedEvent: return "tombstone"
        case .snapshot: return "snapshot"
        case .refresh: return "refresh"
        case .offset: return "offset"
        case .versionReserved: return "version_reserved"
        }
    }
}
