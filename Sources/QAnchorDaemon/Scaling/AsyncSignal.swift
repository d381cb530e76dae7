import Synchronization

/// A broadcast wake-up for async code: `wait` suspends until the next `notify()` (or its timeout, or the task's
/// cancellation); `notify` resumes every current waiter. Replaces sleep-polling loops: the waiter re-checks its
/// condition after each wake-up.
///
/// Threading: any task or thread may call `notify`; any task may `wait`.
final class AsyncSignal: Sendable {
    private struct State {
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    /// Wakes every task waiting now.
    func notify() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns at the next `notify()`, after `timeout` (if given), or when the task is cancelled.
    func wait(timeout: Duration? = nil) async {
        guard let timeout else { return await waitForNotify() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForNotify() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForNotify() async {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
