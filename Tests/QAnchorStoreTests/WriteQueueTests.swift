import Foundation
import Testing
@testable import QAnchorStore

/// A flag set on one thread and read on another.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

@Suite struct WriteQueueTests {
    struct ProbeFailure: Error {}

    @Test func queuedRequestsShareACommitAndAFailingOneFailsAlone() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        // Keep the writer busy until the next three requests have queued up behind it, so that it takes
        // them together.
        let started = Flag()
        let blocker = Task {
            try await store.write { _ in
                started.set()
                for _ in 0..<10_000 where store.writer.pendingCount < 3 { usleep(1000) }
            }
        }
        while !started.isSet { try await Task.sleep(for: .milliseconds(1)) }
        let a = Task {
            try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("a"), 0, "a1", at: Fixture.now)],
                                               offsets: [SourceOffset(topic: "bill", partition: 0, nextOffset: 1)], nowMs: Fixture.now))
        }
        let bad = Task {
            try await store.write { txn in
                try txn.put(store.tables.meta, Array("probe".utf8), [1])
                throw ProbeFailure()
            }
        }
        let b = Task {
            try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("b"), 0, "b1", at: Fixture.now)],
                                               offsets: [SourceOffset(topic: "bill", partition: 1, nextOffset: 1)], nowMs: Fixture.now))
        }
        try await blocker.value
        #expect(try await a.value.stored == 1)
        #expect(try await b.value.stored == 1)
        await #expect(throws: ProbeFailure.self) { try await bad.value }
        // The failed request left nothing behind; the others are complete.
        #expect(try store.read { txn in try txn.get(store.tables.meta, Array("probe".utf8)) == nil })
        #expect(try store.storedOffsets().count == 2)
        let stats = store.writerStatistics
        #expect(stats.isolations == 1)
        // Blocker (1) + the three re-run alone (2 succeed) = 3 commits for 3 successful requests.
        #expect(stats.commits == 3 && stats.requests == 3)
    }

    @Test func concurrentIngestsAreBatchedIntoFewerCommits() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    _ = try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("u\(i)"), 0, "e\(i)", at: Fixture.now)],
                                                           nowMs: Fixture.now))
                }
            }
            try await group.waitForAll()
        }
        let stats = store.writerStatistics
        #expect(stats.requests == 200)
        #expect(stats.commits < 200)
        #expect(try store.statistics().eventsByModality["bill"] == 200)
    }
}
