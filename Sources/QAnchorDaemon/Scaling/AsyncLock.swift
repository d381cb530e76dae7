import Synchronization

/// A first-come-first-served mutual exclusion for async code: `withLock` suspends (never blocks a thread) until
/// the lock is free. Not reentrant.
///
/// Threading: any task may call `withLock`.
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let run = state.withLock { s -> Bool in
                if s.held { s.waiters.append(continuation); return false }
                s.held = true
                return true
            }
            if run { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty { s.held = false; return nil }
            return s.waiters.removeFirst()  // stays held: handed over
        }
        next?.resume()
    }
}
