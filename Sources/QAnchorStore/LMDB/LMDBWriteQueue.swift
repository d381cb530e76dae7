import Foundation
import Logging

/// The single writer of an environment: a dedicated thread that takes every pending write request,
/// applies them in ONE write transaction (each inside its own nested transaction) and commits once.
///
/// Invariants:
/// - every request is applied at most once in a committed transaction, and its caller is resumed only
///   after that transaction committed (durably under the default durability);
/// - a request whose body throws is rolled back alone (its nested transaction is aborted); the others in
///   the same commit are unaffected;
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

    init(environment: LMDBEnvironment, maxJobsPerTransaction: Int, logger: Logger) {
        self.environment = environment
        self.maxJobsPerTransaction = max(1, maxJobsPerTransaction)
        self.logger = logger
        let thread = Thread { [unowned self] in self.run() }
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

    /// Finishes the pending requests, then stops the thread and waits for it.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                stopped = true
                condition.broadcast()
                condition.unlock()
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
        var outcomes: [Error?]
        attempt: while true {
            outcomes = Array(repeating: nil, count: jobs.count)
            let parent: LMDBTransaction
            do {
                parent = try environment.beginWrite()
            } catch {
                for job in jobs { job.finish(error) }
                return
            }
            for (i, job) in jobs.enumerated() {
                do {
                    let child = try environment.beginWrite(parent: parent)
                    do {
                        try job.apply(child)
                        try child.commit()
                    } catch {
                        child.abort()
                        throw error
                    }
                } catch let error as LMDBError where error.isMapFull {
                    parent.abort()
                    if growOrFail(jobs, error) { continue attempt } else { return }
                } catch {
                    outcomes[i] = error
                }
            }
            do {
                try parent.commit()
            } catch {
                if error.isMapFull {
                    if growOrFail(jobs, error) { continue attempt } else { return }
                }
                for job in jobs { job.finish(error) }
                return
            }
            break
        }
        for (job, outcome) in zip(jobs, outcomes) { job.finish(outcome) }
    }

    /// Grows the map after `MDB_MAP_FULL`; on failure finishes every job with the error.
    private func growOrFail(_ jobs: [Job], _ cause: LMDBError) -> Bool {
        do {
            try environment.grow()
            return true
        } catch {
            logger.error("LMDB map is full and cannot grow", metadata: ["error": "\(error)", "cause": "\(cause)"])
            for job in jobs { job.finish(error) }
            return false
        }
    }
}

/// Carries a write body's result from the writer thread to the resumed caller.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
