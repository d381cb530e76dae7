import Foundation
import Logging

/// `CommitMode.perRequest`: every group of pending requests is applied in ONE write transaction and
/// committed before the callers resume.
///
/// A request whose body throws fails alone: the shared transaction is aborted and every request of it
/// is re-run in a transaction of its own (no nested transactions, which keeps `MDB_WRITEMAP` possible).
/// `MDB_MAP_FULL` aborts, grows the map and re-runs the group. Writer thread only.
final class PerRequestCommitter: WriteCommitter {
    private let environment: LMDBEnvironment
    private let counters: WriterCounters
    private let logger: Logger

    init(environment: LMDBEnvironment, counters: WriterCounters, logger: Logger) {
        self.environment = environment
        self.counters = counters
        self.logger = logger
    }

    var idleDeadline: Date? { nil }
    func idle() {}
    func shutdown() {}

    func process(_ jobs: [WriteJob]) {
        switch commit(jobs) {
        case .committed:
            counters.update { $0.commits += 1; $0.requests += jobs.count }
            for job in jobs { job.finish(nil) }
        case let .failed(error) where jobs.count == 1:
            jobs[0].finish(error)
        case .failed:
            // Isolate the failing request: re-run each alone (bodies are deterministic).
            counters.update { $0.isolations += 1 }
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
    private func commit(_ jobs: [WriteJob]) -> Outcome {
        while true {
            let txn: LMDBTransaction
            do {
                txn = try environment.beginWrite()
            } catch {
                return .fatal(error)
            }
            do {
                let start = monotonicSeconds()
                for job in jobs { try job.apply(txn) }
                let applied = monotonicSeconds()
                try txn.commit()
                let end = monotonicSeconds()
                counters.update { $0.applySeconds += applied - start; $0.commitSeconds += end - applied }
                return .committed
            } catch let error as LMDBError where error.isMapFull {
                txn.abort()
                do {
                    try environment.grow()
                    counters.update { $0.mapGrowths += 1 }
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
