import Foundation
import Testing
@testable import QAnchorStore

@Suite struct ExpiryTests {
    @Test func sweepRemovesExpiredItemsInSmallStepsAndMarksUsersDirty() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        // 5 users × (2 bill events at day -8 and day -1, one snapshot at day -8).
        var events: [IngestEvent] = []
        for i in 0..<5 {
            let u = Fixture.user("u\(i)", Int32(i % 2))
            events.append(Fixture.text(u, 0, "old-\(i)", at: Fixture.now - 8 * Fixture.day))
            events.append(Fixture.text(u, 0, "new-\(i)", at: Fixture.now - 1 * Fixture.day))
            events.append(Fixture.tabular(u, "tab-\(i)", at: Fixture.now - 8 * Fixture.day, [Float(i), 0, 0]))
        }
        _ = try await store.ingest(IngestBatch(events: events, nowMs: Fixture.now))
        // Refresh everyone so that only the sweep can make them dirty.
        let dirty = try store.dirtyUsers(limit: 100)
        #expect(dirty.count == 5)
        _ = try await store.commitRefresh(dirty.map {
            CompletedRefresh(observed: $0, record: RefreshRecord(version: 1, fingerprint: "fp", refreshedAtMs: Fixture.now,
                                                                 newestEventMs: Fixture.now), outputs: [:])
        })
        #expect(try store.dirtyUsers(limit: 100).isEmpty)

        // Nothing is old enough yet.
        let none = try await store.sweepExpired(nowMs: Fixture.now, limit: 4)
        #expect(none == ExpirySweepResult())

        // Three days later the day -8 items (10 of them) are outside the 10-day window: sweep 4 at a time.
        let later = Fixture.now + 3 * Fixture.day
        var steps = 0, removedEvents = 0, removedSnapshots = 0
        while true {
            let r = try await store.sweepExpired(nowMs: later, limit: 4)
            #expect(r.removedEvents + r.removedSnapshots <= 4)
            removedEvents += r.removedEvents
            removedSnapshots += r.removedSnapshots
            steps += 1
            if !r.hasMore { break }
        }
        #expect(steps == 3)
        #expect(removedEvents == 5 && removedSnapshots == 5)
        let nowDirty = try store.dirtyUsers(limit: 100)
        #expect(nowDirty.count == 5)
        #expect(nowDirty.allSatisfy { $0.modalityMask == 0b101 && $0.firstDirtyMs == later })
        for i in 0..<5 {
            let state = try #require(try store.userState(Fixture.user("u\(i)", Int32(i % 2))))
            #expect(state.modalities[0].events.map(\.eventID) == ["new-\(i)"])
            #expect(state.modalities[2].snapshot == nil)
        }
        let stats = try store.statistics()
        #expect(stats.eventsByModality == ["bill": 5, "app": 0, "tabular": 0])
        // A second sweep finds nothing.
        #expect(try await store.sweepExpired(nowMs: later) == ExpirySweepResult())
    }
}
