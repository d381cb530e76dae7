import Foundation
import Logging

/// The single writer of an environment: a dedicated thread that takes the pending write requests and
/// hands them to its `WriteCommitter` — per-request commits or the journaled long transaction.
///
/// Invariants:
/// - a caller is resumed only after its request is durable (committed, or journaled and synced);
/// - a request whose body throws fails alone (see the committers);
/// - request bodies must be deterministic functions of their input and the database: after
///   `MDB_MAP_FULL` (or an abort) they are re-run.
///
/// Threading: `submit` may be called from any task; it suspends without blocking a cooperative thread.
/// Bodies and the committer run on the writer thread. Cancellation does not withdraw a submitted request.
final class LMDBWriteQueue: @unchecked Sendable {
    private let maxJobsPerTransaction: Int
    private let committer: WriteCommitter
    private let condition = NSCondition()
    private var pending: [WriteJob] = []
    private var stopping = false
    private var stopped = false
    private var thread: Thread?
    private var finalAction: (@Sendable () -> Void)?
    let counters: WriterCounters

    /// Counters since open.
    var statistics: WriterStatistics { counters.snapshot }

    /// Requests waiting for the writer thread.
    var pendingCount: Int {
        condition.lock(); defer { condition.unlock() }
        return pending.count
    }

    init(committer: WriteCommitter, counters: WriterCounters, maxJobsPerTransaction: Int) {
        self.committer = committer
        self.counters = counters
        self.maxJobsPerTransaction = max(1, maxJobsPerTransaction)
        // The thread keeps the queue alive until `stop()` lets `run()` return.
        let thread = Thread { self.run() }
        thread.name = "qanchor-lmdb-writer"
        self.thread = thread
        thread.start()
    }

    /// Applies `body` in a write transaction and returns its result once that transaction committed
    /// (a non-ingest write: in journaled mode it also checkpoints).
    func submit<T: Sendable>(_ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        try await enqueue(record: nil, body)
    }

    /// Applies an ingest's `body` and returns once it is durable: committed (per request) or journaled.
    func submitIngest<T: Sendable>(_ record: IngestRecord,
                                   _ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        try await enqueue(record: record, body)
    }

    private func enqueue<T: Sendable>(record: IngestRecord?,
                                      _ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let box = ResultBox<T>()
            let job = WriteJob(apply: { txn in box.value = try body(txn) },
                               record: record,
                               finish: { error in
                                   if let error { continuation.resume(throwing: error) }
                                   else { continuation.resume(returning: box.value!) }
                               })
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: StoreError.closed)
                return
            }
            pending.append(job)
            condition.signal()
            condition.unlock()
        }
    }

    /// Finishes the pending requests, lets the committer close (final checkpoint), stops the thread,
    /// then runs `afterwards` (closing the environment). Waits for the thread, except when called on the
    /// writer thread itself (a store released inside a write body): then `afterwards` runs when the
    /// thread's loop ends.
    func stop(afterwards: @escaping @Sendable () -> Void = {}) {
        condition.lock()
        stopping = true
        condition.broadcast()
        if Thread.current === thread {
            finalAction = afterwards
            condition.unlock()
            return
        }
        while !stopped { condition.wait() }
        condition.unlock()
        afterwards()
    }

    private func run() {
        while true {
            condition.lock()
            var timedOut = false
            while pending.isEmpty && !stopping && !timedOut {
                if let deadline = committer.idleDeadline {
                    timedOut = !condition.wait(until: deadline)
                } else {
                    condition.wait()
                }
            }
            if pending.isEmpty {
                if stopping {
                    condition.unlock()
                    committer.shutdown()
                    condition.lock()
                    stopped = true
                    let action = finalAction
                    condition.broadcast()
                    condition.unlock()
                    action?()
                    return
                }
                condition.unlock()
                committer.idle()
                continue
            }
            let take = min(pending.count, maxJobsPerTransaction)
            let jobs = Array(pending.prefix(take))
            pending.removeFirst(take)
            condition.unlock()
            committer.process(jobs)
        }
    }
}

/// One queued write request.
struct WriteJob {
    /// The request's body.
    let apply: (LMDBTransaction) throws -> Void
    /// An ingest's encoded request (journaled before the caller resumes in journaled mode); nil for
    /// every other write.
    let record: IngestRecord?
    /// Resumes the caller; called exactly once.
    let finish: (Error?) -> Void
}

/// How the writer thread turns queued requests into committed (or journaled) transactions.
/// Used only on the writer thread.
protocol WriteCommitter: AnyObject {
    /// Applies `jobs` and finishes each of them.
    func process(_ jobs: [WriteJob])
    /// When the writer should wake up without new requests (a due checkpoint); nil = never.
    var idleDeadline: Date? { get }
    /// Called when `idleDeadline` passed without requests.
    func idle()
    /// Called once when the queue stops, after the last request.
    func shutdown()
}

/// What the writer thread has done since the store was opened.
public struct WriterStatistics: Sendable, Equatable {
    /// Write transactions committed (in journaled mode: checkpoints).
    public var commits = 0
    /// Write requests applied and acknowledged (requests / commits = batching factor).
    public var requests = 0
    /// Shared transactions aborted because one request failed (its requests were re-run alone).
    public var isolations = 0
    /// Times the map was grown after `MDB_MAP_FULL`.
    public var mapGrowths = 0
    /// Journaled mode: journal appends (each one `fdatasync`).
    public var journalSyncs = 0
    /// Journaled mode: times the open transaction was rebuilt from the journal after an abort.
    public var rebuilds = 0
    /// Seconds the writer thread spent applying request bodies (first applications).
    public var applySeconds = 0.0
    /// Journaled mode: seconds spent writing and syncing the journal.
    public var journalSeconds = 0.0
    /// Seconds spent in `mdb_txn_commit` (journaled mode: checkpoints).
    public var commitSeconds = 0.0

    /// All counters zero.
    public init() {}
}

/// `WriterStatistics` behind a lock: written by the writer thread, read by anyone.
final class WriterCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var value = WriterStatistics()

    var snapshot: WriterStatistics {
        lock.lock(); defer { lock.unlock() }
        return value
    }

    func update(_ body: (inout WriterStatistics) -> Void) {
        lock.lock(); body(&value); lock.unlock()
    }
}

/// Monotonic seconds, for the writer's time counters.
func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Carries a write body's result from the writer thread to the resumed caller.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
