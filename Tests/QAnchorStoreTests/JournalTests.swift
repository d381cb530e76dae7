import Foundation
import QAnchorTestSupport
import Testing
@testable import QAnchorStore

/// `CommitMode.journaled`: what readers see, checkpoints, recovery of a crashed writer's journal (torn
/// tails cut, damage before the end refused), map growth and failures inside the long transaction.
///
/// A "crash image" is a copy of `data.mdb` and the journal segments taken while the store is open:
/// exactly what a SIGKILL leaves on disk (the open transaction has written nothing to `data.mdb`).
@Suite struct JournalTests {
    struct ProbeFailure: Error {}

    static func journaled(_ dir: URL, interval: Duration = .seconds(3600), maxEvents: Int = 1_000_000) -> StoreConfiguration {
        var c = Fixture.configuration(dir)
        c.commitMode = .journaled(interval: interval, maxEvents: maxEvents)
        return c
    }

    /// Batch `i`: three bill events of users a/b/c of partition 0, offsets up to 3(i+1).
    static func batch(_ i: Int) -> IngestBatch {
        IngestBatch(events: ["a", "b", "c"].enumerated().map { j, u in
                        Fixture.text(Fixture.user(u), 0, "b\(i)-\(u)", at: Fixture.now - Int64(100 * i + j), seed: i * 3 + j)
                    },
                    offsets: [SourceOffset(topic: "bill", partition: 0, nextOffset: Int64(3 * (i + 1)))],
                    nowMs: Fixture.now)
    }

    /// Event ids of user a/b/c in modality 0, sorted.
    static func storedIDs(_ store: EventStore) throws -> [String] {
        try ["a", "b", "c"].flatMap { Fixture.eventIDs(try store.userState(Fixture.user($0)), 0) }.sorted()
    }

    static func expectedIDs(_ batches: [Int]) -> [String] {
        batches.flatMap { i in ["a", "b", "c"].map { "b\(i)-\($0)" } }.sorted()
    }

    static func offset(_ store: EventStore) throws -> Int64? { try store.storedOffsets(partition: 0).first?.nextOffset }

    /// Copies what a killed process would leave: `data.mdb` and the journal segments.
    static func crashImage(of source: URL, into target: URL) throws -> URL {
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path)
        where name == "data.mdb" || name.hasSuffix(WriteJournal.fileSuffix) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
        }
        return target
    }

    /// A crash image holding batches 0..<count, each journaled by its own append, none checkpointed.
    static func imageWithJournaledBatches(_ count: Int, _ dir: TemporaryDirectory) async throws -> URL {
        let store = try EventStore(configuration: journaled(dir.child("live")))
        defer { store.close() }
        for i in 0..<count { _ = try await store.ingest(batch(i)) }
        #expect(store.writerStatistics.journalSyncs == count)
        return try crashImage(of: dir.child("live"), into: dir.child("image"))
    }

    static func frames(_ segment: URL) throws -> [JournalReader.Record] {
        var reader = try JournalReader(url: segment)
        var records: [JournalReader.Record] = []
        while let r = try reader.next() { records.append(r) }
        return records
    }

    @Test func readsSeeIngestsOnlyFromTheNextCheckpoint() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore(configuration: Self.journaled(dir.url))
        defer { store.close() }
        let result = try await store.ingest(Self.batch(0))
        #expect(result.stored == 3)
        // Acknowledged (journaled and synced), not yet visible.
        #expect(try Self.storedIDs(store).isEmpty)
        #expect(try Self.offset(store) == nil)
        let segments = try WriteJournal.segments(in: dir.url)
        #expect(segments.count == 1)
        let mode = try FileManager.default.attributesOfItem(atPath: segments[0].path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(store.writerStatistics.journalSyncs == 1 && store.writerStatistics.commits == 0)

        try await store.checkpoint()
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0]))
        #expect(try Self.offset(store) == 3)
        #expect(try WriteJournal.segments(in: dir.url).isEmpty)
        #expect(store.writerStatistics.commits == 1)
    }

    @Test func anyOtherWriteCommitsTheIngestsBeforeIt() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore(configuration: Self.journaled(dir.url))
        defer { store.close() }
        _ = try await store.ingest(Self.batch(0))
        // The user exists only in the open transaction: markDirty runs inside it, then commits.
        let marked = try await store.markDirty([Fixture.user("a")], modalityMask: 0b10, nowMs: Fixture.now)
        #expect(marked == 1)
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0]))
        #expect(try store.dirtyUsers(limit: 10).first { $0.user == Fixture.user("a") }?.modalityMask == 0b11)
        #expect(try WriteJournal.segments(in: dir.url).isEmpty)
    }

    @Test func checkpointsFollowTheEventCountAndTheInterval() async throws {
        let dir = TemporaryDirectory()
        let byCount = try EventStore(configuration: Self.journaled(dir.child("count"), maxEvents: 5))
        defer { byCount.close() }
        _ = try await byCount.ingest(Self.batch(0))
        #expect(try Self.storedIDs(byCount).isEmpty)
        _ = try await byCount.ingest(Self.batch(1))   // 6 events ≥ 5: checkpoint before the next request
        #expect(try Self.storedIDs(byCount) == Self.expectedIDs([0, 1]))

        let byTime = try EventStore(configuration: Self.journaled(dir.child("time"), interval: .milliseconds(50)))
        defer { byTime.close() }
        _ = try await byTime.ingest(Self.batch(0))
        var visible = false
        for _ in 0..<500 where !visible {
            try await Task.sleep(for: .milliseconds(10))
            visible = try Self.offset(byTime) == 3
        }
        #expect(visible, "no checkpoint within 5 s of a 50 ms interval")
        #expect(try Self.storedIDs(byTime) == Self.expectedIDs([0]))
    }

    @Test func closeCheckpoints() async throws {
        let dir = TemporaryDirectory()
        do {
            let store = try EventStore(configuration: Self.journaled(dir.url))
            _ = try await store.ingest(Self.batch(0))
            store.close()
        }
        #expect(try WriteJournal.segments(in: dir.url).isEmpty)
        let reopened = try Fixture.open(dir.url)
        defer { reopened.close() }
        #expect(try Self.storedIDs(reopened) == Self.expectedIDs([0]))
    }

    @Test func openingReplaysACrashedWritersJournalOnce() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(3, dir)
        #expect(try WriteJournal.segments(in: image).count == 1)
        for round in 0..<2 {
            // Per-request mode replays a journal too (switching modes is safe); the second open finds none.
            let store = try Fixture.open(image)
            defer { store.close() }
            #expect(try Self.storedIDs(store) == Self.expectedIDs([0, 1, 2]), "round \(round)")
            #expect(try Self.offset(store) == 9)
            #expect(try store.statistics().eventsByModality["bill"] == 9)
            #expect(try store.read { txn in try Meta.u64(txn, store.tables, JournalRecovery.metaKey) } == 3)
            #expect(try WriteJournal.segments(in: image).isEmpty)
        }
    }

    @Test func aTornTailIsCutAndEverythingBeforeItReplayed() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(3, dir)
        let segment = try #require(try WriteJournal.segments(in: image).first)
        let frames = try Self.frames(segment)
        #expect(frames.map(\.sequence) == [1, 2, 3])
        // The third append was interrupted half-way through its frame.
        #expect(truncate(segment.path, off_t(frames[2].offset + 40)) == 0)
        let store = try Fixture.open(image)
        defer { store.close() }
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0, 1]))
        #expect(try Self.offset(store) == 6)
        #expect(try store.read { txn in try Meta.u64(txn, store.tables, JournalRecovery.metaKey) } == 2)
    }

    @Test func aZeroFilledTailIsCut() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(2, dir)
        let segment = try #require(try WriteJournal.segments(in: image).first)
        let handle = try FileHandle(forWritingTo: segment)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 0, count: 4096))   // size persisted, data not
        try handle.close()
        let store = try Fixture.open(image)
        defer { store.close() }
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0, 1]))
    }

    @Test func aDamagedRecordBeforeTheEndFailsLoudlyAndChangesNothing() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(3, dir)
        let segment = try #require(try WriteJournal.segments(in: image).first)
        let frames = try Self.frames(segment)
        var bytes = try [UInt8](Data(contentsOf: segment))
        bytes[frames[1].offset + WriteJournal.frameHeaderSize + 10] ^= 0x40   // one bit of record 2's payload
        try Data(bytes).write(to: segment)

        #expect {
            _ = try Fixture.open(image)
        } throws: { error in
            guard case let .corruptJournal(path, offset, reason) = error as? StoreError else { return false }
            return path == segment.path && offset == frames[1].offset && reason.contains("checksum")
        }
        // Nothing was applied or deleted: the damaged segment stays for inspection.
        #expect(try WriteJournal.segments(in: image) == [segment])
        try FileManager.default.removeItem(at: segment)
        let store = try Fixture.open(image)
        defer { store.close() }
        #expect(try Self.storedIDs(store).isEmpty)
    }

    @Test func aSegmentCutWhileBeingCreatedIsDropped() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(2, dir)
        // The crash hit a new segment before its magic was complete.
        let newest = image.appendingPathComponent(WriteJournal.segmentName(firstSequence: 3))
        try Data(WriteJournal.magic.prefix(3)).write(to: newest)
        let store = try Fixture.open(image)
        defer { store.close() }
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0, 1]))
        #expect(try WriteJournal.segments(in: image).isEmpty)
    }

    @Test func journaledModeNeedsAPositiveIntervalAndEventCount() {
        let dir = TemporaryDirectory()
        for mode in [CommitMode.journaled(interval: .zero, maxEvents: 10), .journaled(interval: .seconds(1), maxEvents: 0)] {
            var config = Fixture.configuration(dir.url)
            config.commitMode = mode
            #expect(throws: StoreError.self) { try config.validate() }
            #expect(throws: StoreError.self) { _ = try EventStore(configuration: config) }
        }
    }

    @Test func aForeignFileNamedLikeASegmentFailsLoudly() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(1, dir)
        let foreign = image.appendingPathComponent(WriteJournal.segmentName(firstSequence: 99))
        try Data("this is not a journal, just a file".utf8).write(to: foreign)
        #expect {
            _ = try Fixture.open(image)
        } throws: { error in
            guard case let .corruptJournal(path, offset, reason) = error as? StoreError else { return false }
            return path == foreign.path && offset == 0 && reason.contains("magic")
        }
    }

    @Test func aSequenceGapFailsLoudly() async throws {
        let dir = TemporaryDirectory()
        let image = try await Self.imageWithJournaledBatches(3, dir)
        let segment = try #require(try WriteJournal.segments(in: image).first)
        let frames = try Self.frames(segment)
        // Cut record 2 out of the middle: 1, 3 remain, both intact.
        var bytes = try [UInt8](Data(contentsOf: segment))
        bytes.removeSubrange(frames[1].offset..<frames[2].offset)
        try Data(bytes).write(to: segment)
        #expect {
            _ = try Fixture.open(image)
        } throws: { error in
            guard case let .corruptJournal(_, _, reason) = error as? StoreError else { return false }
            return reason.contains("sequence 3 where 2 was expected")
        }
    }

    @Test func theMapGrowsInsideTheLongTransaction() async throws {
        let dir = TemporaryDirectory()
        var config = Self.journaled(dir.url)
        config.environment.initialMapSize = 64 * 1024
        let store = try EventStore(configuration: config)
        defer { store.close() }
        for b in 0..<20 {
            let events = (0..<100).map { Fixture.text(Fixture.user("g\(b)-\($0)"), 0, "e\(b)-\($0)", at: Fixture.now, seed: $0) }
            _ = try await store.ingest(IngestBatch(events: events, offsets: [SourceOffset(topic: "t", partition: 0, nextOffset: Int64(b + 1))],
                                                   nowMs: Fixture.now))
        }
        let stats = store.writerStatistics
        #expect(stats.mapGrowths >= 3)
        #expect(stats.rebuilds >= 1, "growth with journaled records pending rebuilds the transaction from the journal")
        #expect(stats.commits == 0)
        try await store.checkpoint()
        let counts = try store.statistics()
        #expect(counts.eventsByModality["bill"] == 2000)
        #expect(counts.users == 2000)
        #expect(try store.storedOffsets(partition: 0).first?.nextOffset == 20)
        #expect(try store.userState(Fixture.user("g19-99"))?.modalities[0].events.first?.vector == Fixture.vector(99))
    }

    @Test func aFailingRequestFailsAloneAndIsNeverJournaled() async throws {
        let dir = TemporaryDirectory()
        let store = try EventStore(configuration: Self.journaled(dir.child("live")))
        defer { store.close() }
        _ = try await store.ingest(Self.batch(0))
        let doomed = IngestRecord(Self.batch(1), encoding: .float32)
        let tables = store.tables, config = store.configuration
        await #expect(throws: ProbeFailure.self) {
            try await store.writer.submitIngest(doomed) { txn in
                _ = try doomed.bytes.withUnsafeBytes { try IngestApplier.apply($0, txn: txn, tables: tables, config: config) }
                throw ProbeFailure()
            }
        }
        _ = try await store.ingest(Self.batch(2))
        #expect(store.writerStatistics.rebuilds >= 1)
        #expect(store.writerStatistics.journalSyncs == 2)
        let image = try Self.crashImage(of: dir.child("live"), into: dir.child("image"))

        // A failing non-ingest write inside the long transaction fails alone too.
        await #expect(throws: ProbeFailure.self) {
            try await store.write { txn in
                try txn.put(store.tables.meta, Array("probe".utf8), [1])
                throw ProbeFailure()
            }
        }
        try await store.checkpoint()
        #expect(try Self.storedIDs(store) == Self.expectedIDs([0, 2]))
        #expect(try store.read { txn in try txn.get(store.tables.meta, Array("probe".utf8)) == nil })

        let recovered = try Fixture.open(image)
        defer { recovered.close() }
        #expect(try Self.storedIDs(recovered) == Self.expectedIDs([0, 2]))
    }

    @Test func aSecondProcessCannotJournalIntoAnOwnedStore() throws {
        let dir = TemporaryDirectory()
        let storeDir = dir.child("store")
        let store = try EventStore(configuration: CrashLoopTests.configuration(storeDir, commit: "per_request"))
        defer { store.close() }
        let result = try QAnchorExecutable.run(["store", "crash-writer", "--store", storeDir.path, "--commit", "journaled",
                                                "--batches", "1"])
        #expect(result.status != 0)
        #expect(result.errors.contains("qanchor.lock"), "stderr: \(result.errors)")
    }

    @Test func xxh64MatchesZstdFrameChecksums() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("testdata/store/xxh64_goldens.json"))
        struct File: Decodable { struct Golden: Decodable { let length: Int; let xxh64_low32: UInt32 }; let goldens: [Golden] }
        let goldens = try JSONDecoder().decode(File.self, from: data).goldens
        #expect(goldens.count >= 20)
        for g in goldens {
            let bytes = (0..<g.length).map { UInt8(($0 * 31 + 7) % 251) }
            #expect(UInt32(truncatingIfNeeded: XXHash64.hash(bytes)) == g.xxh64_low32, "length \(g.length)")
        }
    }
}
