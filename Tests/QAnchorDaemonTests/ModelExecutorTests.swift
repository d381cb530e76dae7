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
        let blocker = Task { try await executor.run(.background) { _ in gate.wait(); order.append("blocker") } }
        try await Task.sleep(for: .milliseconds(100))
        var jobs: [Task<Void, any Error>] = []
        for i in 0..<3 {
            jobs.append(Task { try await executor.run(.background) { _ in order.append("background\(i)") } })
            try await Task.sleep(for: .milliseconds(20))
        }
        jobs.append(Task { try await executor.run(.interactive) { _ in order.append("interactive") } })
        try await Task.sleep(for: .milliseconds(100))
        gate.signal()
        try await blocker.value
        for job in jobs { try await job.value }
        #expect(order.all == ["blocker", "interactive", "background0", "background1", "background2"])
    }

    @Test func workWhoseDeadlinePassedWhileWaitingIsNotRun() async throws {
        let executor = try Self.executor()
        let gate = DispatchSemaphore(value: 0)
        let ran = Log()
        let blocker = Task { try await executor.run { _ in gate.wait() } }
        try await Task.sleep(for: .milliseconds(50))
        let late = Task { try await executor.run(.interactive, deadline: .now + .milliseconds(50)) { _ in ran.append("ran") } }
        try await Task.sleep(for: .milliseconds(200))
        gate.signal()
        try await blocker.value
        await #expect(throws: ModelExecutor.Expired.self) { try await late.value }
        #expect(ran.all.isEmpty)
        // Work with a deadline still ahead runs.
        #expect(try await executor.run(.interactive, deadline: .now + .seconds(10)) { _ in 42 } == 42)
    }
}
