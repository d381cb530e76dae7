import CLMDB
import Foundation
import Logging

/// `CommitMode.journaled`: ingests go into one long-lived write transaction and, before their callers
/// resume, into the `WriteJournal` (one `fdatasync` per group of pending ingests). The transaction is
/// committed — a checkpoint recording the last journal sequence in `meta` — when `interval` has passed
/// since the first uncheckpointed ingest, after `maxEvents` events, when any other write arrives (it is
/// applied to the same transaction, which then commits before that caller resumes), and at shutdown.
/// After a checkpoint the journal is emptied.
///
/// Invariant: the open transaction holds exactly the journal records after the last checkpoint
/// (plus, transiently, the requests being applied). Whenever a request fails or LMDB aborts, the
/// transaction is dropped and rebuilt from the journal, so:
/// - an ingest whose body throws fails alone (it was not journaled); the others of its group are
///   re-run one by one;
/// - `MDB_MAP_FULL` grows the map, rebuilds and re-runs;
/// - `MDB_TXN_FULL` (too many dirty pages) checkpoints the journaled part and re-runs.
/// If the rebuild itself fails, the committer is `broken`: every later write fails with that error;
/// nothing acknowledged is lost (the journal is replayed at the next open).
///
/// Writer thread only.
final class JournaledCommitter: WriteCommitter {
    private let environment: LMDBEnvironment
    private let journal: WriteJournal
    private let counters: WriterCounters
    private let logger: Logger
    private let interval: TimeInterval
    private let maxEvents: Int
    /// Re-applies a journaled ingest record to a transaction.
    private let replay: (LMDBTransaction, UnsafeRawBufferPointer) throws -> Void
    /// Writes the journal sequence a checkpoint covers (meta `journal_seq`).
    private let recordCheckpoint: (LMDBTransaction, UInt64) throws -> Void

    private var txn: LMDBTransaction?
    private var committedSequence: UInt64
    private var eventsSinceCheckpoint = 0
    private var firstIngestAt: Date?
    private var broken: Error?

    init(environment: LMDBEnvironment, journal: WriteJournal, interval: Duration, maxEvents: Int,
         counters: WriterCounters, logger: Logger,
         replay: @escaping (LMDBTransaction, UnsafeRawBufferPointer) throws -> Void,
         recordCheckpoint: @escaping (LMDBTransaction, UInt64) throws -> Void) {
        self.environment = environment
        self.journal = journal
        self.committedSequence = journal.lastSequence
        let parts = interval.components
        self.interval = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        self.maxEvents = maxEvents
        self.counters = counters
        self.logger = logger
        self.replay = replay
        self.recordCheckpoint = recordCheckpoint
    }

    var idleDeadline: Date? { broken == nil ? firstIngestAt.map { $0.addingTimeInterval(interval) } : nil }

    private var checkpointDue: Bool {
        broken == nil && (eventsSinceCheckpoint >= maxEvents || (idleDeadline.map { Date() >= $0 } ?? false))
    }

    func idle() { if checkpointDue { checkpoint() } }

    func shutdown() {
        checkpoint()
        txn?.abort()
        txn = nil
        journal.closeSegment()
    }

    func process(_ jobs: [WriteJob]) {
        var i = 0
        while i < jobs.count {
            let isIngest = jobs[i].record != nil
            var j = i + 1
            while j < jobs.count && (jobs[j].record != nil) == isIngest { j += 1 }
            let run = Array(jobs[i..<j])
            if isIngest { processIngests(run) } else { processOthers(run) }
            i = j
        }
        if checkpointDue { checkpoint() }
    }

    // MARK: Ingests: apply, journal, acknowledge

    private func processIngests(_ run: [WriteJob]) {
        while true {
            let t: LMDBTransaction
            do { t = try openTransaction() } catch { return fail(run, error) }
            let start = monotonicSeconds()
            do {
                for job in run { try job.apply(t) }
            } catch let error as LMDBError where error.isMapFull {
                do { try grow() } catch { rebuild(); return fail(run, error) }
                rebuild()
                continue
            } catch let error as LMDBError where error.code == MDB_TXN_FULL && journal.lastSequence > committedSequence {
                logger.info("write transaction full: checkpointing early", metadata: ["events": "\(eventsSinceCheckpoint)"])
                rebuild()
                checkpoint()
                continue
            } catch {
                rebuild()
                if run.count == 1 { return fail(run, error) }
                counters.update { $0.isolations += 1 }
                for job in run { processIngests([job]) }
                return
            }
            let applied = monotonicSeconds()
            do {
                try journal.append(run.compactMap(\.record))
            } catch {
                logger.error("journal append failed; the requests fail", metadata: ["error": "\(error)"])
                rebuild()
                return fail(run, error)
            }
            if firstIngestAt == nil { firstIngestAt = Date() }
            eventsSinceCheckpoint += run.reduce(0) { $0 + ($1.record?.eventCount ?? 0) }
            let journaled = monotonicSeconds()
            counters.update {
                $0.requests += run.count; $0.journalSyncs += 1
                $0.applySeconds += applied - start; $0.journalSeconds += journaled - applied
            }
            for job in run { job.finish(nil) }
            return
        }
    }

    // MARK: Other writes: apply to the open transaction, then checkpoint

    private func processOthers(_ run: [WriteJob]) {
        while true {
            let t: LMDBTransaction
            do { t = try openTransaction() } catch { return fail(run, error) }
            do {
                for job in run { try job.apply(t) }
                try commit(t)
                counters.update { $0.commits += 1; $0.requests += run.count }
                for job in run { job.finish(nil) }
                return
            } catch let error as LMDBError where error.isMapFull {
                dropTransaction()
                do { try grow() } catch { rebuild(); return fail(run, error) }
                rebuild()
            } catch {
                rebuild()
                if run.count == 1 { return fail(run, error) }
                counters.update { $0.isolations += 1 }
                for job in run { processOthers([job]) }
                return
            }
        }
    }

    // MARK: Transaction state

    private func fail(_ run: [WriteJob], _ error: Error) {
        for job in run { job.finish(error) }
    }

    private func openTransaction() throws -> LMDBTransaction {
        if let txn { return txn }
        if let broken { throw broken }
        let t = try environment.beginWrite()
        txn = t
        return t
    }

    private func dropTransaction() {
        txn?.abort()
        txn = nil
    }

    private func grow() throws {
        dropTransaction()
        try environment.grow()
        counters.update { $0.mapGrowths += 1 }
    }

    /// Commits `t` as a checkpoint covering every journaled record, then empties the journal.
    /// On failure the transaction is gone (LMDB aborts a failed commit): call `rebuild()`.
    private func commit(_ t: LMDBTransaction) throws {
        let last = journal.lastSequence
        if last != committedSequence { try recordCheckpoint(t, last) }
        txn = nil
        let start = monotonicSeconds()
        try t.commit()
        let seconds = monotonicSeconds() - start
        counters.update { $0.commitSeconds += seconds }
        committedSequence = last
        let events = eventsSinceCheckpoint
        eventsSinceCheckpoint = 0
        firstIngestAt = nil
        // The journal is dropped next: the checkpoint must be on disk even when commits do not sync.
        if environment.options.durability != .durable {
            do {
                try environment.sync()
            } catch {
                // Keep the segments (the next open skips records up to the checkpoint); start a new one.
                logger.error("cannot sync the checkpoint; keeping its journal", metadata: ["error": "\(error)"])
                journal.closeSegment()
                return
            }
        }
        journal.discardAll()
        reserveMapSpace(lastCheckpointEvents: events)
    }

    /// Between transactions, grows the map ahead of need: room for twice the bytes the last
    /// checkpoint's events took (≈ 4 KiB each, a generous upper bound for vectors, keys and rewritten
    /// pages), at least for `maxEvents` of them.
    private func reserveMapSpace(lastCheckpointEvents: Int) {
        let headroom = 4096 * max(maxEvents, 2 * lastCheckpointEvents)
        do {
            let growths = try environment.reserve(headroom: min(headroom, environment.options.maximumMapSize / 4))
            if growths > 0 { counters.update { $0.mapGrowths += growths } }
        } catch {
            logger.warning("cannot grow the map ahead of need; a full map will be handled when it happens",
                           metadata: ["error": "\(error)"])
        }
    }

    /// Commits the open transaction if it holds journaled records. A failure is logged; the records
    /// stay in the journal and the transaction is rebuilt from it.
    private func checkpoint() {
        guard let t = txn else { return }
        guard journal.lastSequence > committedSequence else { return }
        do {
            try commit(t)
            counters.update { $0.commits += 1 }
        } catch let error as LMDBError where error.isMapFull {
            do { try grow() } catch {
                logger.error("checkpoint failed: the map cannot grow", metadata: ["error": "\(error)"])
                retryLater()
                rebuild()
                return
            }
            rebuild()
            if txn != nil { checkpoint() }
        } catch {
            logger.error("checkpoint failed; the journal keeps the records", metadata: ["error": "\(error)"])
            retryLater()
            rebuild()
        }
    }

    /// After a failed checkpoint: try again one interval (and `maxEvents` more events) later, not at once.
    private func retryLater() {
        firstIngestAt = Date()
        eventsSinceCheckpoint = 0
    }

    /// Drops the open transaction and re-applies the journal since the last checkpoint to a new one
    /// (growing the map when needed). On failure the committer becomes `broken`.
    private func rebuild() {
        dropTransaction()
        guard journal.lastSequence > committedSequence, broken == nil else { return }
        counters.update { $0.rebuilds += 1 }
        while true {
            do {
                let records = try journal.currentRecords()
                guard records.count == Int(journal.lastSequence - committedSequence),
                      records.first?.sequence == committedSequence + 1 else {
                    throw StoreError.corruptJournal(path: journal.directory.path, offset: 0,
                        reason: "live segment holds \(records.count) records, expected \(journal.lastSequence - committedSequence) from \(committedSequence + 1)")
                }
                let t = try environment.beginWrite()
                txn = t
                do {
                    for r in records { try r.payload.withUnsafeBytes { try replay(t, $0) } }
                    return
                } catch let error as LMDBError where error.isMapFull {
                    try grow()
                }
            } catch {
                dropTransaction()
                broken = error
                logger.critical("cannot rebuild the write transaction from the journal; writes fail until the store is reopened",
                                metadata: ["error": "\(error)"])
                return
            }
        }
    }
}
