import Foundation
import Logging

/// The single writer of an environment: a dedicated thread that takes every pending write request,
/// applies them in ONE write transaction and commits once.
///
/// Invariants:
/// - every request is applied at most once in a committed transaction, and its caller is resumed only
///   after that transaction committed (durably under the default durability);
/// - a request whose body throws fails alone: the shared transaction is aborted and every request of
///   it is re-run in a transaction of its own (so no nested transactions are needed, which keeps
///   `MDB_WRITEMAP` possible);
/// - `MDB_MAP_FULL` aborts the whole transaction, grows the map and re-runs every request of the batch,
///   so request bodies must be deterministic functions of their input and the database.
///
/// Threading: `submit` may be called from any task; it suspends without blocking a cooperative thread.
/// Bodies run on the writer thread. Cancellation does not withdraw a submitted request.
final class LMDBWriteQueue: @unchecked Sendable {
    private struct Job {
        let apply: (LMDBTransaction) throws -> Void
        let finish: (Error?) -> Void
    }

    private let environment: LMDBEnvironment
    private let maxJobsPerTransaction: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [Job] = []
    private var stopping = false
    private var stopped = false
    private var thread: Thread?
    private var finalAction: (@Sendable () -> Void)?
    private var counters = WriterStatistics()

    /// Counters since open.
    var statistics: WriterStatistics {
        condition.lock(); defer { condition.unlock() }
        return counters
    }

    /// Requests waiting for the writer thread.
    var pendingCount: Int {
        condition.lock(); defer { condition.unlock() }
        return pending.count
    }

    private func count(_ body: (inout WriterStatistics) -> Void) {
        condition.lock(); body(&counters); condition.unlock()
    }

    init(environment: LMDBEnvironment, maxJobsPerTransaction: Int, logger: Logger) {
        self.environment = environment
        self.maxJobsPerTransaction = max(1, maxJobsPerTransaction)
        self.logger = logger
        // The thread keeps the queue alive until `stop()` lets `run()` return.
        let thread = Thread { self.run() }
        thread.name = "qanchor-lmdb-writer"
        self.thread = thread
        thread.start()
    }

    /// Applies `body` in a write transaction and returns its result once that transaction committed.
    func submit<T: Sendable>(_ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let box = ResultBox<T>()
            let job = Job(apply: { txn in box.value = try body(txn) },
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

    /// Finishes the pending requests, stops the thread, then runs `afterwards` (closing the environment).
    /// Waits for the thread, except when called on the writer thread itself (a store released inside a
    /// write body): then `afterwards` runs when the thread's loop ends.
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
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                stopped = true
                let action = finalAction
                condition.broadcast()
                condition.unlock()
                action?()
                return
            }
            let take = min(pending.count, maxJobsPerTransaction)
            let jobs = Array(pending.prefix(take))
            pending.removeFirst(take)
            condition.unlock()
            process(jobs)
        }
    }

    private func process(_ jobs: [Job]) {
        switch commit(jobs) {
        case .committed:
            count { $0.commits += 1; $0.requests += jobs.count }
            for job in jobs { job.finish(nil) }
        case let .failed(error) where jobs.count == 1:
            jobs[0].finish(error)
        case .failed:
            // Isolate the failing request: re-run each alone (bodies are deterministic).
            count { $0.isolations += 1 }
            for job in jobs { process([job]) }
        case let .fatal(error):
            for job in jobs { job.finish(error) }
        }
    }

    private enum Outcome {
        case committed
        /// A body threw: the transaction was aborted.
        case failed(Error)
        /// No transaction can be made (map cannot grow, environment unusable).
        case fatal(Error)
    }

    /// Applies `jobs` in one transaction, growing the map and retrying on `MDB_MAP_FULL`.
    private func commit(_ jobs: [Job]) -> Outcome {
        while true {
            let txn: LMDBTransaction
            do {
                txn = try environment.beginWrite()
            } catch {
                return .fatal(error)
            }
            do {
                for job in jobs { try job.apply(txn) }
                try txn.commit()
                return .committed
            } catch let error as LMDBError where error.isMapFull {
                txn.abort()
                do {
                    try environment.grow()
                    count { $0.mapGrowths += 1 }
                } catch let growError {
                    logger.error("LMDB map is full and cannot grow", metadata: ["error": "\(growError)", "cause": "\(error)"])
                    return .fatal(growError)
                }
            } catch {
                txn.abort()
                return .failed(error)
            }
        }
    }
}

/// What the writer thread has done since the store was opened.
public struct WriterStatistics: Sendable, Equatable {
    /// Write transactions committed.
    public var commits = 0
    /// Write requests applied by those commits (requests / commits = batching factor).
    public var requests = 0
    /// Shared transactions aborted because one request failed (its requests were re-run alone).
    public var isolations = 0
    /// Times the map was grown after `MDB_MAP_FULL`.
    public var mapGrowths = 0

    /// All counters zero.
    public init() {}
}

/// Carries a write body's result from the writer thread to the resumed caller.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
