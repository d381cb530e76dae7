import CLMDB
import Foundation
import Testing
@testable import QAnchorStore

@Suite struct EnvironmentTests {
    @Test func mapGrowsFromATinyInitialSize() async throws {
        let dir = TemporaryDirectory()
        var config = Fixture.configuration(dir.url)
        config.environment.initialMapSize = 64 * 1024
        let store = try EventStore(configuration: config)
        defer { store.close() }
        let before = try store.statistics().mapSizeBytes
        for b in 0..<10 {
            let events = (0..<300).map { Fixture.text(Fixture.user("u\(b)-\($0)"), 0, "e\(b)-\($0)", at: Fixture.now, seed: $0) }
            _ = try await store.ingest(IngestBatch(events: events, offsets: [SourceOffset(topic: "t", partition: 0, nextOffset: Int64(b))],
                                                   nowMs: Fixture.now))
        }
        let stats = try store.statistics()
        #expect(stats.mapSizeBytes >= 16 * before)
        #expect(store.writerStatistics.mapGrowths >= 4)
        #expect(stats.eventsByModality["bill"] == 3000)
        #expect(stats.users == 3000)
        #expect(try store.userState(Fixture.user("u9-299"))?.modalities[0].events.first?.vector == Fixture.vector(299))
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        _ = try await store.write { txn in try Meta.putU64(txn, store.tables, "schema_version", 99) }
        store.close()
        #expect(throws: StoreError.schemaTooNew(path: dir.url.path, found: 99, supported: EventStore.schemaVersion)) {
            try Fixture.open(dir.url)
        }
    }

    @Test func foreignAndCorruptFilesFailAtOpen() throws {
        let dir = TemporaryDirectory()
        // Not an LMDB file at all.
        let garbage = dir.child("garbage")
        try FileManager.default.createDirectory(at: garbage, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 64 * 1024).write(to: garbage.appendingPathComponent("data.mdb"))
        #expect { try Fixture.open(garbage) } throws: { error in
            guard case StoreError.notAStore(_, let reason) = error else { return false }
            return reason.contains("not a readable LMDB file")
        }
        // A valid LMDB environment of another application.
        let foreign = dir.child("foreign")
        let env = try LMDBEnvironment(directory: foreign, options: LMDBEnvironmentOptions(), logger: .init(label: "test"))
        let txn = try env.beginWrite()
        _ = try env.openDatabase("sessions", in: txn, create: true)
        try txn.commit()
        env.close()
        #expect { try Fixture.open(foreign) } throws: { error in
            guard case StoreError.notAStore(_, let reason) = error else { return false }
            return reason.contains("sessions")
        }
        // A path that is a file, not a directory.
        let file = dir.child("plain-file")
        try Data([1]).write(to: file)
        #expect(throws: StoreError.self) { try Fixture.open(file) }
    }

    @Test func reorderedModalitiesAreRefusedAndAppendedOnesAccepted() throws {
        let dir = TemporaryDirectory()
        try Fixture.open(dir.url).close()
        var swapped = Fixture.configuration(dir.url)
        swapped.modalities.swapAt(0, 1)
        #expect(throws: StoreError.modalityMismatch(path: dir.url.path, index: 0, stored: "bill", configured: "app")) {
            try EventStore(configuration: swapped)
        }
        var extended = Fixture.configuration(dir.url)
        extended.modalities.append(ModalitySchema(name: "search", kind: .text, cap: 5, dimension: 4))
        try EventStore(configuration: extended).close()
        let reopened = try EventStore.openExisting(directory: dir.url)
        #expect(reopened.configuration.modalities.map(\.name) == ["bill", "app", "tabular", "search"])
        reopened.close()
    }

    @Test func filesAreOwnerOnly() throws {
        let dir = TemporaryDirectory()
        try Fixture.open(dir.child("store")).close()
        func mode(_ url: URL) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int ?? -1) & 0o777
        }
        #expect(try mode(dir.child("store")) == 0o700)
        #expect(try mode(dir.child("store").appendingPathComponent("data.mdb")) == 0o600)
        #expect(try mode(dir.child("store").appendingPathComponent("lock.mdb")) == 0o600)
    }

    @Test func openExistingDoesNotCreateAStore() throws {
        let dir = TemporaryDirectory()
        #expect(throws: StoreError.self) { try EventStore.openExisting(directory: dir.child("nothing")) }
        #expect(!FileManager.default.fileExists(atPath: dir.child("nothing").appendingPathComponent("data.mdb").path))
    }

    @Test func writesAfterCloseFail() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        store.close()
        store.close()   // idempotent
        await #expect(throws: StoreError.closed) {
            _ = try await store.ingest(IngestBatch(events: [], nowMs: Fixture.now))
        }
    }
}

@Suite struct ReadInputTests {
    @Test func badLookupsAreAnsweredOrRejectedNeverCrash() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.url)
        defer { store.close() }
        _ = try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("u"), 0, "e", at: Fixture.now)], nowMs: Fixture.now))
        let long = String(repeating: "x", count: 300)
        #expect(try store.locateUser(long) == nil)
        #expect(try store.refreshRecord(UserKey(partition: 0, userID: long)) == nil)
        #expect(try store.publishedOutputs(UserKey(partition: 0, userID: long)).isEmpty)
        #expect(throws: StoreError.self) { try store.userState(UserKey(partition: 0, userID: long)) }
        #expect(throws: StoreError.self) { try store.cachedVectors(modality: 300, textHashes: [[1]]) }
        #expect(throws: StoreError.self) { try store.cachedVectors(modality: -1, textHashes: [[1]]) }
        #expect(try store.dirtyUsers(after: UserKey(partition: 0, userID: long), limit: 10).isEmpty)   // keys sort by length first
        #expect(try store.dirtyUsers(limit: 10).count == 1)
        #expect(try await store.markDirty([UserKey(partition: 0, userID: long)], modalityMask: 1, nowMs: Fixture.now) == 0)
    }

    @Test func aReleasedStoreClosesItself() async throws {
        let dir = TemporaryDirectory()
        do {
            let store = try Fixture.open(dir.url)
            _ = try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("u"), 0, "e", at: Fixture.now)], nowMs: Fixture.now))
        }
        let reopened = try Fixture.open(dir.url)
        defer { reopened.close() }
        #expect(Fixture.eventIDs(try reopened.userState(Fixture.user("u")), 0) == ["e"])
    }
}
