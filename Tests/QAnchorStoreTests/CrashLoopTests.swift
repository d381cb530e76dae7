import Foundation
import QAnchorTestSupport
import Testing
@_spi(CrashTest) @testable import QAnchorStore

/// A child process (`qanchor store crash-writer`) writes deterministic batches and is killed with
/// SIGKILL at random moments, many times. After every kill the store must open cleanly, hold exactly the
/// batches its stored offsets cover (each complete, none partial, none beyond), and every batch the
/// child acknowledged must be among them.
@Suite struct CrashLoopTests {
    static let iterations = 25

    static func qanchorExecutable() throws -> URL { try QAnchorExecutable.url() }

    /// The configuration the child uses for `commit` (see `StoreCrashWriterCommand`); the verifier opens
    /// the store per request, which replays a journal the child left.
    static func configuration(_ dir: URL, commit: String) -> StoreConfiguration {
        var c = CrashWorkload.configuration(directory: dir)
        if commit == "journaled" { c.commitMode = .journaled(interval: .milliseconds(25), maxEvents: 300) }
        return c
    }

    /// Journaled: the child checkpoints every 25 ms or 300 events, so kills land before, during and
    /// after checkpoints and most leave acknowledged batches only in the journal.
    @Test(arguments: ["per_request", "journaled"])
    func killedWritersLeaveOnlyWholeCommittedBatches(commit: String) throws {
        let executable = try Self.qanchorExecutable()
        let dir = TemporaryDirectory()
        let storeDir = dir.child("store")
        var rng = SystemRandomNumberGenerator()
        var killedMidRun = 0
        var committed: [Int32: Int] = [:]
        var leftJournal = 0
        for iteration in 0..<Self.iterations {
            let child = Process()
            child.executableURL = executable
            child.arguments = ["store", "crash-writer", "--store", storeDir.path, "--commit", commit]
            let out = Pipe()
            child.standardOutput = out
            child.standardError = FileHandle.nullDevice
            try child.run()
            usleep(UInt32.random(in: 40_000...400_000, using: &rng))
            if child.isRunning { killedMidRun += 1 }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            let acks = Self.parseAcks(out.fileHandleForReading.readDataToEndOfFile())
            if try Self.journalRecords(storeDir) > 0 { leftJournal += 1 }

            let store = try EventStore(configuration: Self.configuration(storeDir, commit: "per_request"))
            defer { store.close() }
            #expect(try WriteJournal.segments(in: storeDir).isEmpty, "iteration \(iteration): journal left after open")
            for p in CrashWorkload.partitions {
                let offset = try store.storedOffsets(partition: p).first?.nextOffset ?? 0
                #expect(offset % Int64(CrashWorkload.eventsPerBatch) == 0, "iteration \(iteration): offset \(offset) of partition \(p)")
                let batches = Int(offset) / CrashWorkload.eventsPerBatch
                #expect(batches >= committed[p, default: 0], "iteration \(iteration): partition \(p) went back")
                committed[p] = batches
                if let lastAck = acks[p]?.max() {
                    #expect(lastAck < batches, "iteration \(iteration): batch \(lastAck) of partition \(p) acknowledged but not stored")
                }
                try Self.verify(store, partition: p, batches: batches, iteration: iteration)
            }
        }
        // The loop exercised something: most children were killed while writing, and batches accumulated.
        #expect(killedMidRun >= Self.iterations / 2)
        #expect(committed.values.reduce(0, +) > 4 * Self.iterations)
        if commit == "journaled" {
            #expect(leftJournal >= Self.iterations / 4, "only \(leftJournal) kills left journaled records to replay")
        }
    }

    /// Intact records in the journal segments a killed child left (0 without a journal).
    static func journalRecords(_ dir: URL) throws -> Int {
        guard FileManager.default.fileExists(atPath: dir.path) else { return 0 }
        var n = 0
        for segment in try WriteJournal.segments(in: dir) {
            var reader = try JournalReader(url: segment)
            while try reader.next() != nil { n += 1 }
        }
        return n
    }

    static func parseAcks(_ data: Data) -> [Int32: [Int]] {
        var acks: [Int32: [Int]] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ")
            // A line cut by the kill is ignored.
            if f.count == 3, f[0] == "ack", let p = Int32(f[1]), let i = Int(f[2]) { acks[p, default: []].append(i) }
        }
        return acks
    }

    /// The partition's stored events and snapshots equal exactly those of batches 0..<batches.
    static func verify(_ store: EventStore, partition p: Int32, batches: Int, iteration: Int) throws {
        var expectedEvents: [UserKey: [Int: Set<String>]] = [:]
        var expectedSnapshots: [UserKey: (ts: Int64, id: String)] = [:]
        for i in 0..<batches {
            for e in CrashWorkload.batch(p, i).events {
                if e.modality == 2 {
                    if let old = expectedSnapshots[e.user], (old.ts, old.id) >= (e.timestampMs, e.eventID) { continue }
                    expectedSnapshots[e.user] = (e.timestampMs, e.eventID)
                } else {
                    expectedEvents[e.user, default: [:]][e.modality, default: []].insert(e.eventID)
                }
            }
        }
        var seenUsers = Set<UserKey>()
        try store.forEachUser(inPartition: p) { state in
            seenUsers.insert(state.user)
            for m in 0..<2 {
                let ids = state.modalities[m].events.map(\.eventID)
                #expect(Set(ids) == expectedEvents[state.user]?[m] ?? [], "iteration \(iteration): \(state.user) modality \(m)")
                #expect(ids.count == Set(ids).count)
                for e in state.modalities[m].events {
                    let parts = e.eventID.split(separator: "-")   // p{p}-b{i}-e{j}
                    let i = Int(parts[1].dropFirst())!, j = Int(parts[2].dropFirst())!
                    #expect(e.vector == CrashWorkload.vector(i, j, dimension: 8), "iteration \(iteration): vector of \(e.eventID)")
                }
            }
            #expect(state.modalities[2].snapshot?.eventID == expectedSnapshots[state.user]?.id,
                    "iteration \(iteration): snapshot of \(state.user)")
        }
        let expectedUsers = Set(expectedEvents.keys).union(expectedSnapshots.keys)
        #expect(seenUsers == expectedUsers, "iteration \(iteration): users of partition \(p)")
    }
}

/// A second process (the daemon) grows the map while this one (a tool such as `qanchor inspect`) has the
/// store open: this process's next read gets `MDB_MAP_RESIZED` and must adopt the new size transparently.
@Suite struct MultiProcessTests {
    @Test func readerAdoptsAMapGrownByAnotherProcess() throws {
        let executable = try CrashLoopTests.qanchorExecutable()
        let dir = TemporaryDirectory()
        let storeDir = dir.child("store")
        let store = try EventStore(configuration: CrashWorkload.configuration(directory: storeDir))
        defer { store.close() }
        let before = try store.statistics().mapSizeBytes

        let child = Process()
        child.executableURL = executable
        child.arguments = ["store", "crash-writer", "--store", storeDir.path, "--batches", "150"]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)

        let stats = try store.statistics()
        #expect(stats.mapSizeBytes > before)
        #expect(stats.offsets.count == CrashWorkload.partitions.count)
        #expect(stats.offsets.allSatisfy { $0.nextOffset == 150 * Int64(CrashWorkload.eventsPerBatch) })
        let user = CrashWorkload.user(2, 149, 0)
        #expect(try store.userState(user)?.modalities[0].events.isEmpty == false)
    }
}
