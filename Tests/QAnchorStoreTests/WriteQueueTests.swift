import Foundation
import Testing
@testable import QAnchorStore

@Suite struct WriteQueueTests {
    struct ProbeFailure: Error {}

    @Test func queuedRequestsShareACommitAndAFailingOneFailsAlone() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        // Keep the writer busy so the next requests queue up behind it and are taken together.
        let blocker = Task { try await store.write { _ in _ = usleep(300_000) } }
        try await Task.sleep(for: .milliseconds(100))
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
