import Foundation
import Testing
@testable import QAnchorStore

/// The changelog's byte format, and the store operations a replay of it uses (refresh records, reserved versions).
@Suite struct ChangelogEntryTests {
    static let record = RefreshRecord(version: 7, fingerprint: "sha256:ab", refreshedAtMs: 1_764_288_000_123,
                                      newestEventMs: 1_764_200_000_000, inputDigest: Array(repeating: 9, count: 32))

    static let all: [ChangelogEntry] = [
        .event(user: "u42 用户", modality: 2, eventID: "b-9f1c", timestampMs: -5, textHash: [1, 2, 3], vector: [0.5, -0.25, 1024]),
        .removedEvent(user: "u", modality: 0, eventID: "e"),
        .snapshot(user: "u", modality: 5, eventID: "t-77", timestampMs: 1_764_288_000_000, features: [1e-30, -3.5, 7]),
        .refresh(user: "u", record: record, outputs: ["credit_risk": Array("{\"a\":1}".utf8), "generic": []]),
        .refresh(user: "empty", record: RefreshRecord(version: 1, fingerprint: "", refreshedAtMs: 0, newestEventMs: 0), outputs: [:]),
        .offset(topic: "qanchor.events.bill", nextOffset: 1_234_567_890_123),
        .versionReserved(user: "u", version: UInt64.max),
    ]

    @Test func everyKindRoundTrips() throws {
        for entry in Self.all {
            #expect(try ChangelogEntry(key: entry.key, value: entry.value(encoding: .float32)) == entry)
        }
        // fp16 rounds vectors (only): exactly what `rounded` predicts.
        let event = Self.all[0]
        let half = try ChangelogEntry(key: event.key, value: event.value(encoding: .float16))
        guard case let .event(_, _, _, _, _, vector) = half, case let .event(_, _, _, _, _, original) = event else {
            Issue.record("not an event"); return
        }
        #expect(vector == VectorEncoding.float16.rounded(original))
    }

    @Test func keysSeparateWhatCompactionMustKeepApart() {
        let keys = Self.all.map(\.key)
        #expect(Self.all[0].key != ChangelogEntry.event(user: "u42 用户", modality: 1, eventID: "b-9f1c", timestampMs: 0,
                                                         textHash: [], vector: []).key)
        #expect(Set([keys[3], keys[6]]).count == 2, "a reservation does not replace the user's refresh record")
        #expect(Self.all[1].value(encoding: .float16) == nil, "a removed event is a tombstone")
    }

    @Test func badRecordsAreRefusedWithTheReason() {
        func reason(_ key: [UInt8], _ value: [UInt8]?) -> String {
            do { _ = try ChangelogEntry(key: key, value: value); return "accepted" } catch { return "\(error)" }
        }
        let refresh = Self.all[3]
        let value = refresh.value(encoding: .float32)!
        #expect(reason(refresh.key, Array(value.dropLast(3))).contains("truncated"))
        #expect(reason(refresh.key, value + [0]).contains("bytes after the value"))
        #expect(reason(refresh.key, [2] + value.dropFirst()).contains("format version 2"))
        #expect(reason([9, 1, 0x75], [1]).contains("unknown entry kind 9"))
        #expect(reason([], [1]).contains("truncated"))
        #expect(reason(Self.all[5].key, nil).contains("tombstone for entry kind 4"))
        var badVector = Self.all[0].value(encoding: .float32)!
        badVector[badVector.count - 13] = 7  // the low byte of the blob's element count: 3 → 7
        #expect(reason(Self.all[0].key, badVector).contains("vector"))
    }

    @Test func reservedVersionsAreNeverReusedNorMovedBack() async throws {
        let directory = TemporaryDirectory()
        let store = try Fixture.open(directory.url)
        defer { store.close() }
        let user = UserKey(partition: 3, userID: "u")
        let other = UserKey(partition: 3, userID: "never-refreshed")
        _ = try await store.restoreRefreshes([RestoredRefresh(user: user, record: Self.record, outputs: ["s": [1]])])
        #expect(try store.refreshRecord(user)?.inputDigest == Self.record.inputDigest)
        // Version 8 may have been published: the record moves to 8 and forgets its digest (not "unchanged").
        _ = try await store.restoreRefreshes([], reserved: [ReservedVersion(user: user, version: 8),
                                                            ReservedVersion(user: other, version: 2)])
        #expect(try store.refreshRecord(user)?.version == 8)
        #expect(try store.refreshRecord(user)?.inputDigest == [])
        #expect(try store.refreshRecord(other)?.version == 2)
        // An older record or reservation never moves it back.
        _ = try await store.restoreRefreshes([RestoredRefresh(user: user, record: Self.record, outputs: [:])],
                                             reserved: [ReservedVersion(user: user, version: 3)])
        #expect(try store.refreshRecord(user)?.version == 8)
        #expect(try store.publishedOutputs(user) == ["s": [1]])
    }
}
