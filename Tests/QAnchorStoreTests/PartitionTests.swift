import Foundation
import Testing
@testable import QAnchorStore

@Suite struct PartitionTests {
    @Test func countExportAndDropOnePartition() async throws {
        let dir = TemporaryDirectory()
        var config = Fixture.configuration(dir.url)
        config.prefixKVBudgetBytes = 1 << 20
        let store = try EventStore(configuration: config)
        defer { store.close() }
        var events: [IngestEvent] = []
        for i in 0..<12 {
            let u = Fixture.user("u\(i)", Int32(i % 3))
            events.append(Fixture.text(u, 0, "a\(i)", at: Fixture.now - 10))
            events.append(Fixture.text(u, 1, "b\(i)", at: Fixture.now - 5))
            events.append(Fixture.tabular(u, "t\(i)", at: Fixture.now, [1, 2, 3]))
        }
        _ = try await store.ingest(IngestBatch(events: events, offsets: (0..<3).map {
            SourceOffset(topic: "bill", partition: $0, nextOffset: 100 + Int64($0))
        }, nowMs: Fixture.now))
        _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [1], fingerprint: "fp", bytes: [1, 2, 3]), for: Fixture.user("u1", 1))
        _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [1], fingerprint: "fp", bytes: [4, 5]), for: Fixture.user("u0", 0))

        #expect(try store.partitions() == [0, 1, 2])
        let summary = try store.partitionSummary(1)
        #expect(summary == PartitionSummary(partition: 1, users: 4, events: 8, snapshots: 4, dirtyUsers: 4,
                                            offsets: [SourceOffset(topic: "bill", partition: 1, nextOffset: 101)]))
        var exported: [String] = []
        try store.forEachUser(inPartition: 1) { state in
            exported.append(state.user.userID)
            #expect(state.modalities[0].events.count == 1 && state.modalities[2].snapshot != nil)
        }
        #expect(exported.sorted() == ["u1", "u10", "u4", "u7"])
        #expect(try store.locateUser("u4") == Fixture.user("u4", 1))

        let removed = try await store.dropPartition(1, keysPerTransaction: 5)
        #expect(removed > 0)
        #expect(try store.partitionSummary(1) == PartitionSummary(partition: 1, users: 0, events: 0, snapshots: 0, dirtyUsers: 0, offsets: []))
        #expect(try store.locateUser("u4") == nil)
        #expect(try store.partitions() == [0, 2])
        let stats = try store.statistics()
        #expect(stats.users == 8 && stats.eventsByModality == ["bill": 8, "app": 8, "tabular": 8])
        #expect(stats.dirtyUsers == 8 && stats.prefixKVEntries == 1)
        #expect(try store.partitionSummary(0).users == 4)
        // The expiry index holds nothing of the dropped partition: sweeping far in the future removes exactly the rest.
        var removedBySweep = 0
        while true {
            let r = try await store.sweepExpired(nowMs: Fixture.now + 100 * Fixture.day)
            removedBySweep += r.removedEvents + r.removedSnapshots
            if !r.hasMore { break }
        }
        #expect(removedBySweep == 24)
    }
}
