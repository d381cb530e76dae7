import Foundation

/// Lets read transactions of this process run concurrently while excluding the rare map resize,
/// which LMDB allows only when no transaction of the process is active.
///
/// Readers `enter`/`leave` around each transaction; `exclusive` waits for active readers to drain,
/// blocks new ones (writer preference, so a resize is not starved) and runs its body alone.
final class ReaderGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var activeReaders = 0
    private var exclusiveWaiting = false

    func enter() {
        condition.lock()
        while exclusiveWaiting { condition.wait() }
        activeReaders += 1
        condition.unlock()
    }

    func leave() {
        condition.lock()
        activeReaders -= 1
        if activeReaders == 0 { condition.broadcast() }
        condition.unlock()
    }

    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        while exclusiveWaiting { condition.wait() }
        exclusiveWaiting = true
        while activeReaders > 0 { condition.wait() }
        defer {
            exclusiveWaiting = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
