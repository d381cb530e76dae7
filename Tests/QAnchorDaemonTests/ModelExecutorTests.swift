import Foundation
import QAnchorModel
import Synchronization
import Testing
@testable import QAnchorDaemon

/// The model thread's two priorities and the start deadline (docs/query.md "Limits").
@Suite struct ModelExecutorTests {
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
        func append(_ s: String) { entries.withLock { $0.append(s) } }
        var all: [String] { entries.withLock { $0 } }
    }

    static func executor() throws -> ModelExecutor {
        ModelExecutor(model: try QAnchorEmbedder(bundle: URL(fileURLWithPath: DaemonHarness.bundle)))
    }

    @Test func interactiveWorkStartsBeforeWaitingBackgroundWork() async throws {
        let executor = try Self.executor()
        let order = Log()
        let gate = DispatchSemaphore(value: 0)
        // The first job holds the model thread until everything else is queued.
        let started = Log()
        let blocker = Task { try await executor.run(.background) { _ in started.append("blocker"); gate.wait(); order.append("blocker") } }
        while started.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        // Each job is queued before the next is submitted (a loaded machine may start tasks late and out of order).
        var jobs: [Task<Void, any Error>] = []
        for i in 0..<3 {
            jobs.append(Task { try await executor.run(.background) { _ in order.append("background\(i)") } })
            while executor.waitingCount < i + 1 { try await Task.sleep(for: .milliseconds(5)) }
        }
        jobs.append(Task { try await executor.run(.interactive) { _ in order.append("interactive") } })
        while executor.waitingCount < 4 { try await Task.sleep(for: .milliseconds(5)) }
        gate.signal()
        try await blocker.value
        for job in jobs { try await job.value }
        #expect(order.all == ["blocker", "interactive", "background0", "background1", "background2"])
    }

    @Test func workWhoseDeadlinePassedWhileWaitingIsNotRun() async throws {
        let executor = try Self.executor()
        let gate = DispatchSemaphore(value: 0)
        let ran = Log()
        let started = Log()
        let blocker = Task { try await executor.run { _ in started.append("blocker"); gate.wait() } }
        while started.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        // The deadline is fixed before the job exists and the model thread is busy until after it: the job cannot
        // start in time, however late the machine runs its task.
        let deadline = ContinuousClock.now + .milliseconds(50)
        let late = Task { try await executor.run(.interactive, deadline: deadline) { _ in ran.append("ran") } }
        try await Task.sleep(for: .milliseconds(200))
        gate.signal()
        try await blocker.value
        await #expect(throws: ModelExecutor.Expired.self) { try await late.value }
        #expect(ran.all.isEmpty)
        // Work with a deadline still ahead runs.
        #expect(try await executor.run(.interactive, deadline: .now + .seconds(10)) { _ in 42 } == 42)
    }
}
