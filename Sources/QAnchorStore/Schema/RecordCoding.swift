/// A user's header record (`users` at `U|00`): the last refresh and the dirty mark.
struct UserHeader: Equatable {
    var refresh: RefreshRecord?
    /// Bit i = modality i changed since the last refresh; 0 = clean.
    var dirtyMask: UInt64 = 0
    var firstDirtyMs: Int64 = 0
    /// Generation of the last change that dirtied the user (0 = never).
    var generation: UInt64 = 0

    // flag u8 (1 = has refresh) | version u64 | refreshed time | newest event time |
    // dirty mask u64 | first-dirty time | generation u64 | fingerprint (rest, UTF-8)
    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + (refresh?.fingerprint.utf8.count ?? 0))
        w.u8(refresh == nil ? 0 : 1)
        w.u64(refresh?.version ?? 0); w.time(refresh?.refreshedAtMs ?? 0); w.time(refresh?.newestEventMs ?? 0)
        w.u64(dirtyMask); w.time(firstDirtyMs); w.u64(generation)
        if let refresh { w.append(refresh.fingerprint.utf8) }
        return w.bytes
    }

    init() {}

    init(decoding v: UnsafeRawBufferPointer) throws {
        var r = ByteReader(v, table: "users(header)")
        let flag = try r.u8("refresh flag")
        guard flag <= 1 else { throw StoreError.corruptRecord(table: "users(header)", key: hex(v), reason: "refresh flag \(flag)") }
        let version = try r.u64("version"), refreshed = try r.time("refreshed time"), newest = try r.time("newest event time")
        dirtyMask = try r.u64("dirty mask"); firstDirtyMs = try r.time("first-dirty time"); generation = try r.u64("generation")
        if flag == 1 {
            refresh = RefreshRecord(version: version, fingerprint: String(decoding: r.rest(), as: UTF8.self),
                                    refreshedAtMs: refreshed, newestEventMs: newest)
        }
    }

    func dirtyUser(_ user: UserKey) -> DirtyUser? {
        dirtyMask == 0 ? nil : DirtyUser(user: user, modalityMask: dirtyMask, firstDirtyMs: firstDirtyMs, generation: generation)
    }
}

/// Value layouts of the other records (see docs/store.md).
enum RecordCoding {
    // event index value: vector sequence u64 | text hash (short)
    static func encodeEventIndex(sequence: UInt64, textHash: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 9 + textHash.count); w.u64(sequence); w.short(textHash); return w.bytes
    }

    static func decodeEventIndex(_ v: UnsafeRawBufferPointer) throws -> (sequence: UInt64, textHash: [UInt8]) {
        var r = ByteReader(v, table: "users(event)")
        return (try r.u64("vector sequence"), try r.short("text hash"))
    }

    // tabular snapshot: time | event id (short) | vector blob
    struct SnapshotHead {
        var timestampMs: Int64
        var eventID: String
        var blobOffset: Int
    }

    static func decodeSnapshotHead(_ v: UnsafeRawBufferPointer) throws -> SnapshotHead {
        var r = ByteReader(v, table: "users(snapshot)")
        let ts = try r.time("snapshot time")
        let eid = try r.shortString("event id")
        return SnapshotHead(timestampMs: ts, eventID: eid, blobOffset: r.offset)
    }

    static func decodeSnapshot(_ v: UnsafeRawBufferPointer) throws -> TabularSnapshot {
        let head = try decodeSnapshotHead(v)
        let features = try VectorCodec.decode(UnsafeRawBufferPointer(rebasing: v[head.blobOffset...]),
                                              table: "users(snapshot)", key: head.eventID)
        return TabularSnapshot(eventID: head.eventID, timestampMs: head.timestampMs, features: features)
    }
}
