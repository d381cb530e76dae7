import Foundation
import Testing
@testable import QAnchorStore

@Suite struct BackupTests {
    @Test func backupWhileWritingThenRestore() async throws {
        let dir = TemporaryDirectory()
        let store = try Fixture.open(dir.child("live"), encoding: .float16)
        let users = (0..<50).map { Fixture.user("u\($0)", Int32($0 % 4)) }
        _ = try await store.ingest(IngestBatch(events: users.map { Fixture.text($0, 0, "e-\($0.userID)", at: Fixture.now, seed: 3) },
                                               offsets: [SourceOffset(topic: "bill", partition: 0, nextOffset: 50)], nowMs: Fixture.now))
        // Writes keep going during the copy; the backup is one consistent snapshot.
        let writer = Task {
            for b in 0..<20 {
                _ = try await store.ingest(IngestBatch(events: [Fixture.text(Fixture.user("late\(b)"), 1, "l\(b)", at: Fixture.now)],
                                                       offsets: [SourceOffset(topic: "bill", partition: 0, nextOffset: Int64(51 + b))],
                                                       nowMs: Fixture.now))
            }
        }
        try store.backup(to: dir.child("backup"))
        try await writer.value
        store.close()

        try EventStore.restore(backup: dir.child("backup"), into: dir.child("restored"),
                               configuration: Fixture.configuration(dir.child("restored")))
        let restored = try Fixture.open(dir.child("restored"))
        defer { restored.close() }
        let stats = try restored.statistics()
        let offset = try #require(stats.offsets.first?.nextOffset)
        // Snapshot consistency: events present == what the stored offset covers.
        #expect(Int64(stats.eventsByModality["bill"]! + stats.eventsByModality["app"]!) == offset)
        #expect(offset >= 50)
        for u in users {
            let state = try #require(try restored.userState(u))
            #expect(state.modalities[0].events.map(\.vector) == [Fixture.vector(3)])
        }
        // Restoring over a non-empty directory is refused.
        #expect(throws: StoreError.self) {
            try EventStore.restore(backup: dir.child("backup"), into: dir.child("restored"),
                                   configuration: Fixture.configuration(dir.child("restored")))
        }
        // Backing up into a non-empty directory is refused.
        #expect(throws: StoreError.self) { try restored.backup(to: dir.child("backup")) }
    }
}
