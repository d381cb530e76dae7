import Dispatch
import Foundation
import Synchronization

/// A dedicated thread that polls one librdkafka handle until stopped. librdkafka runs the application's callbacks
/// (delivery reports, rebalances, statistics) on the thread that polls, so this thread is where they run —
/// never a thread of Swift's cooperative pool.
///
/// `body` is called repeatedly and should block for at most ~100 ms; `finally` runs once on the same thread
/// after the last call (e.g. to close the consumer). `stop()` is idempotent; `join()` waits for the exit.
final class RDKafkaPollThread: Sendable {
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }
    private let stopping = StopFlag()
    private let exited = DispatchGroup()

    init(name: String, body: @escaping @Sendable () -> Void, finally: @escaping @Sendable () -> Void = {}) {
        exited.enter()
        let thread = Thread { [stopping, exited] in
            while !stopping.value.load(ordering: .acquiring) { body() }
            finally()
            exited.leave()
        }
        thread.name = name
        thread.start()
    }

    var isStopping: Bool { stopping.value.load(ordering: .acquiring) }

    func stop() { stopping.value.store(true, ordering: .releasing) }

    /// Waits (off the cooperative pool) until the thread has run `finally` and exited.
    func join() async {
        let exited = self.exited
        await RDKafkaBlocking.run { () -> Void in exited.wait() }
    }
}
