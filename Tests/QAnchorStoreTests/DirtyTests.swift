import Foundation
import Testing
@testable import QAnchorStore

@Suite struct DirtyTests {
    private func refresh(_ d: DirtyUser, version: UInt64 = 1, outputs: [String: [UInt8]] = [:]) -> CompletedRefresh {
        CompletedRefresh(observed: d, record: RefreshRecord(version: version, fingerprint: "sha256:abc",
                                                            refreshedAtMs: Fixture.now, newestEventMs: Fixture.now - 5),
                         outputs: outputs)
    }

    @Test func ingestMarksChangedModalities() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u1")
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(u, 1, "a", at: Fixture.now),
                                                        Fixture.tabular(u, "t", at: Fixture.now, [1, 2, 3])], nowMs: Fixture.now))
        let d = try #require(try store.dirtyUsers(limit: 10).first)
        #expect(d.user == u && d.modalityMask == 0b110 && d.firstDirtyMs == Fixture.now)
        // A later change ORs bits in and keeps the first-dirty time.
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(u, 0, "b", at: Fixture.now)], nowMs: Fixture.now + 99))
        let d2 = try #require(try store.dirtyUsers(limit: 10).first)
        #expect(d2.modalityMask == 0b111 && d2.firstDirtyMs == Fixture.now && d2.generation > d.generation)
    }

    @Test func aUserDirtiedDuringItsRefreshStaysDirty() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let a = Fixture.user("a"), b = Fixture.user("b")
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(a, 0, "a1", at: Fixture.now),
                                                        Fixture.text(b, 0, "b1", at: Fixture.now)], nowMs: Fixture.now))
        let read = try store.dirtyUsers(limit: 10)
        #expect(read.map(\.user) == [a, b])
        // While the refresh of both runs, a new event arrives for `a` (another modality).
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(a, 1, "a2", at: Fixture.now)], nowMs: Fixture.now + 1))
        let result = try await store.commitRefresh(read.map { refresh($0, outputs: ["risk": [1, 2, 3]]) })
        #expect(result.cleaned == 1 && result.stillDirty == [a])
        let left = try store.dirtyUsers(limit: 10)
        #expect(left.map(\.user) == [a])
        #expect(left.first?.modalityMask == 0b11)
        // The refresh record and outputs were written for both.
        #expect(try store.refreshRecord(a)?.version == 1 && store.refreshRecord(b)?.fingerprint == "sha256:abc")
        #expect(try store.publishedOutputs(b) == ["risk": [1, 2, 3]])
        // The next refresh of `a`, from the new mark, cleans it.
        let again = try await store.commitRefresh(left.map { refresh($0, version: 2) })
        #expect(again.cleaned == 1 && again.stillDirty.isEmpty)
        #expect(try store.dirtyUsers(limit: 10).isEmpty)
        #expect(try store.userState(a)?.refresh?.version == 2)
    }

    @Test func aRefreshReplacesTheUsersPublishedOutputs() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let u = Fixture.user("u")
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(u, 0, "e1", at: Fixture.now)], nowMs: Fixture.now))
        let first = try #require(try store.dirtyUsers(limit: 1).first)
        _ = try await store.commitRefresh([refresh(first, outputs: ["risk": [1], "marketing": [2]])])
        #expect(try store.publishedOutputs(u) == ["risk": [1], "marketing": [2]])
        // A bundle without "marketing": only "risk" is served afterwards.
        _ = try await store.markDirty([u], modalityMask: 1, nowMs: Fixture.now)
        let second = try #require(try store.dirtyUsers(limit: 1).first)
        _ = try await store.commitRefresh([refresh(second, version: 2, outputs: ["risk": [3]])])
        #expect(try store.publishedOutputs(u) == ["risk": [3]])
        // Emptied (tombstoned): nothing is served.
        _ = try await store.markDirty([u], modalityMask: 1, nowMs: Fixture.now)
        let third = try #require(try store.dirtyUsers(limit: 1).first)
        _ = try await store.commitRefresh([refresh(third, version: 3)])
        #expect(try store.publishedOutputs(u).isEmpty)
    }

    @Test func dirtyUsersArePagedAndFilteredByPartition() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        let users = (0..<30).map { Fixture.user("u\($0)", Int32($0 % 3)) }
        _ = try await store.ingest(IngestBatch(events: users.map { Fixture.text($0, 0, "e-\($0.userID)", at: Fixture.now) },
                                               nowMs: Fixture.now))
        var seen: [UserKey] = []
        var after: UserKey? = nil
        while true {
            let page = try store.dirtyUsers(after: after, limit: 7)
            if page.isEmpty { break }
            seen += page.map(\.user)
            after = page.last?.user
        }
        #expect(seen.count == 30 && Set(seen) == Set(users))
        #expect(seen == seen.sorted())
        let p1 = try store.dirtyUsers(limit: 100, partitions: [1])
        #expect(p1.count == 10 && p1.allSatisfy { $0.user.partition == 1 })
        // markDirty on unknown users does nothing; on known ones bumps the generation.
        let before = try #require(try store.dirtyUsers(limit: 1).first)
        #expect(try await store.markDirty([Fixture.user("nobody")], modalityMask: 1, nowMs: Fixture.now) == 0)
        #expect(try await store.markDirty([before.user], modalityMask: 0b10, nowMs: Fixture.now) == 1)
        let after2 = try #require(try store.dirtyUsers(limit: 1).first)
        #expect(after2.modalityMask == 0b11 && after2.generation > before.generation)
    }
}
