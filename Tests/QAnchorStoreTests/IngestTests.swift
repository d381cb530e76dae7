import Foundation
import Testing
@testable import QAnchorStore

@Suite struct IngestTests {
    @Test func theSameEventTwiceIsStoredOnce() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        let e = Fixture.text(u, 0, "b-1", at: Fixture.now - 1000)
        let first = try await store.ingest(IngestBatch(events: [e], nowMs: Fixture.now))
        let second = try await store.ingest(IngestBatch(events: [e, e], nowMs: Fixture.now))
        #expect(first.stored == 1 && first.duplicates == 0)
        #expect(second.stored == 0 && second.duplicates == 2)
        #expect(second.dirtiedUsers == 0)
        #expect(Fixture.eventIDs(try store.userState(u), 0) == ["b-1"])
        #expect(try store.statistics().eventsByModality["bill"] == 1)
        // The same id in another modality is another event.
        let other = try await store.ingest(IngestBatch(events: [Fixture.text(u, 1, "b-1", at: Fixture.now)], nowMs: Fixture.now))
        #expect(other.stored == 1)
    }

    @Test func capKeepsTheNewestEventsOldestFirst() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        let events = (0..<5).map { Fixture.text(u, 0, "e\($0)", at: Fixture.now - Int64(10 - $0) * 1000, seed: $0) }
        let r1 = try await store.ingest(IngestBatch(events: Array(events.shuffled()), nowMs: Fixture.now))
        #expect(r1.stored == 3 && r1.superseded == 2)
        let state = try #require(try store.userState(u))
        #expect(state.modalities[0].events.map(\.eventID) == ["e2", "e3", "e4"])
        #expect(state.modalities[0].events.map(\.vector) == [2, 3, 4].map(Fixture.vector))
        // An event older than the K kept ones is superseded at once and does not dirty the user.
        let dirtyBefore = try #require(state.dirty)
        let old = try await store.ingest(IngestBatch(events: [Fixture.text(u, 0, "old", at: Fixture.now - 60_000)], nowMs: Fixture.now))
        #expect(old.stored == 0 && old.superseded == 1 && old.dirtiedUsers == 0)
        #expect(try store.userState(u)?.dirty?.generation == dirtyBefore.generation)
        // A newer one evicts the oldest.
        let new = try await store.ingest(IngestBatch(events: [Fixture.text(u, 0, "new", at: Fixture.now)], nowMs: Fixture.now))
        #expect(new.stored == 1 && new.pruned == 1)
        #expect(Fixture.eventIDs(try store.userState(u), 0) == ["e3", "e4", "new"])
        #expect(try store.statistics().eventsByModality["bill"] == 3)
        // A pruned event replayed is superseded again, not stored.
        let replay = try await store.ingest(IngestBatch(events: [events[0]], nowMs: Fixture.now))
        #expect(replay.stored == 0 && replay.superseded == 1)
    }

    @Test func windowRejectsOldEventsAndPrunesAtIngest() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        let r = try await store.ingest(IngestBatch(events: [
            Fixture.text(u, 1, "too-old", at: Fixture.now - 11 * Fixture.day),
            Fixture.text(u, 1, "day-9", at: Fixture.now - 9 * Fixture.day),
        ], nowMs: Fixture.now))
        #expect(r.outsideWindow == 1 && r.stored == 1)
        // Two days later day-9 is outside the window: the next ingest to that (user, modality) prunes it.
        let later = Fixture.now + 2 * Fixture.day
        let r2 = try await store.ingest(IngestBatch(events: [Fixture.text(u, 1, "fresh", at: later)], nowMs: later))
        #expect(r2.stored == 1 && r2.pruned == 1)
        #expect(Fixture.eventIDs(try store.userState(u), 1) == ["fresh"])
    }

    @Test func tabularSnapshotNewestWins() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        _ = try await store.ingest(IngestBatch(events: [Fixture.tabular(u, "t2", at: Fixture.now - 1000, [2, 2, 2])], nowMs: Fixture.now))
        let older = try await store.ingest(IngestBatch(events: [Fixture.tabular(u, "t1", at: Fixture.now - 5000, [1, 1, 1])], nowMs: Fixture.now))
        #expect(older.superseded == 1 && older.stored == 0)
        let newer = try await store.ingest(IngestBatch(events: [Fixture.tabular(u, "t3", at: Fixture.now, [3, 3, 3])], nowMs: Fixture.now))
        #expect(newer.stored == 1 && newer.pruned == 1)
        let snapshot = try #require(try store.userState(u)?.modalities[2].snapshot)
        #expect(snapshot == TabularSnapshot(eventID: "t3", timestampMs: Fixture.now, features: [3, 3, 3]))
        #expect(try store.statistics().eventsByModality["tabular"] == 1)
    }

    @Test func offsetsAreStoredWithTheirEvents() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let offsets = [SourceOffset(topic: "bill", partition: 0, nextOffset: 42), SourceOffset(topic: "app", partition: 0, nextOffset: 7)]
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("u1"), 0, "x", at: Fixture.now)],
                                               offsets: offsets, nowMs: Fixture.now))
        #expect(Set(try store.storedOffsets()) == Set(offsets))
        #expect(try store.storedOffsets(partition: 1).isEmpty)
    }

    @Test func readersSeeEventsAndOffsetsTogether() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        // Each batch adds 10 events to distinct users and moves the offset to the total: in any
        // snapshot a reader takes, events == offset.
        let writer = Task {
            for b in 0..<40 {
                let events = (0..<10).map { Fixture.text(Fixture.user("u\(b)-\($0)"), 0, "e\(b)-\($0)", at: Fixture.now) }
                _ = try await store.ingest(IngestBatch(events: events, offsets: [SourceOffset(topic: "bill", partition: 0,
                                                       nextOffset: Int64((b + 1) * 10))], nowMs: Fixture.now))
            }
        }
        var checks = 0
        while checks < 2000 {
            let s = try store.statistics()
            let offset = s.offsets.first?.nextOffset ?? 0
            #expect(Int64(s.eventsByModality["bill"] ?? -1) == offset)
            checks += 1
            if offset == 400 { break }
            await Task.yield()
        }
        try await writer.value
        #expect(try store.statistics().offsets.first?.nextOffset == 400)
    }

    @Test func aFailedBatchAppliesNothing() async throws {
        let dir = TemporaryDirectory()
        var config = Fixture.configuration(dir.url)
        config.environment.initialMapSize = 64 * 1024
        config.environment.maximumMapSize = 64 * 1024
        let store = try EventStore(configuration: config)
        defer { store.close() }
        let big = (0..<2000).map { Fixture.text(Fixture.user("u\($0)"), 0, "e\($0)", at: Fixture.now) }
        await #expect(throws: StoreError.self) {
            _ = try await store.ingest(IngestBatch(events: big, offsets: [SourceOffset(topic: "bill", partition: 0, nextOffset: 2000)],
                                                   nowMs: Fixture.now))
        }
        #expect(try store.storedOffsets().isEmpty)
        #expect(try store.statistics().eventsByModality["bill"] == 0)
        #expect(try store.statistics().users == 0)
    }

    @Test func badInputIsRejectedWithItsPosition() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        func rejects(_ e: IngestEvent, _ fragment: String) async {
            do {
                _ = try await store.ingest(IngestBatch(events: [Fixture.text(u, 0, "ok", at: Fixture.now), e], nowMs: Fixture.now))
                Issue.record("accepted \(e.eventID)")
            } catch let error as StoreError {
                #expect("\(error)".contains("event #1"), "\(error)")
                #expect("\(error)".contains(fragment), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        await rejects(IngestEvent(user: u, modality: 0, eventID: "short", timestampMs: Fixture.now,
                                  content: .text(vector: [1, 2], textHash: [1])), "has 2 elements, expected 4")
        await rejects(IngestEvent(user: u, modality: 0, eventID: "nan", timestampMs: Fixture.now,
                                  content: .text(vector: [1, .nan, 3, 4], textHash: [1])), "vector h[1]")
        await rejects(IngestEvent(user: u, modality: 7, eventID: "m7", timestampMs: Fixture.now,
                                  content: .text(vector: Fixture.vector(1), textHash: [1])), "modality index 7")
        await rejects(IngestEvent(user: u, modality: 2, eventID: "tab-as-text", timestampMs: Fixture.now,
                                  content: .text(vector: Fixture.vector(1), textHash: [1])), "tabular modality")
        await rejects(IngestEvent(user: UserKey(partition: -1, userID: "u"), modality: 0, eventID: "neg", timestampMs: Fixture.now,
                                  content: .text(vector: Fixture.vector(1), textHash: [1])), "partition -1")
        await rejects(IngestEvent(user: UserKey(partition: 0, userID: String(repeating: "x", count: 201)), modality: 0, eventID: "long",
                                  timestampMs: Fixture.now, content: .text(vector: Fixture.vector(1), textHash: [1])), "user id")
        await rejects(IngestEvent(user: u, modality: 0, eventID: "", timestampMs: Fixture.now,
                                  content: .text(vector: Fixture.vector(1), textHash: [1])), "event id")
        #expect(try store.userState(u) == nil)
    }

    @Test func contentCacheRoundTrips() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url, encoding: .float16)
        defer { store.close() }
        let hash = Array("coffee".utf8)
        _ = try await store.ingest(IngestBatch(events: [], cacheEntries: [ContentCacheEntry(modality: 0, textHash: hash, vector: [0.5, 1, 2, 4])],
                                               nowMs: Fixture.now))
        let found = try store.cachedVectors(modality: 0, textHashes: [hash, Array("tea".utf8)])
        #expect(found == [[0.5, 1, 2, 4], nil])
        #expect(try store.cachedVectors(modality: 1, textHashes: [hash]) == [nil])
        #expect(try store.statistics().contentCacheEntries == 1)
        #expect(try store.statistics().contentCacheBytes == 1 + hash.count + 4 + 5 + 2 * 4)   // key, day, fp16 blob
        #expect(try store.statistics(includeCacheBytes: false).contentCacheBytes == -1)
    }
}

@Suite struct ContentCacheTests {
    @Test func sweepRemovesEntriesNotStoredWithinTheWindow() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let old = (0..<5).map { ContentCacheEntry(modality: 0, textHash: [0, UInt8($0)], vector: Fixture.vector($0)) }
        let fresh = (0..<5).map { ContentCacheEntry(modality: 1, textHash: [1, UInt8($0)], vector: Fixture.vector($0)) }
        _ = try await store.ingest(IngestBatch(events: [], cacheEntries: old + fresh, nowMs: Fixture.now - 20 * Fixture.day))
        // Re-storing refreshes the day of the `fresh` entries.
        _ = try await store.ingest(IngestBatch(events: [], cacheEntries: fresh, nowMs: Fixture.now))
        var removed = 0, steps = 0
        while true {
            let r = try await store.sweepContentCache(nowMs: Fixture.now, limit: 3)
            removed += r.removed
            steps += 1
            if r.wrapped { break }
        }
        #expect(removed == 5 && steps == 4)
        #expect(try store.cachedVectors(modality: 0, textHashes: old.map(\.textHash)).allSatisfy { $0 == nil })
        #expect(try store.cachedVectors(modality: 1, textHashes: fresh.map(\.textHash)) == fresh.map(\.vector))
    }
}
