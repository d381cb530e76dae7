/// Value layouts of the schema's records (see docs/store.md).
enum RecordCoding {
    // dirty: mask u64 | first-dirty time | generation u64
    static func encodeDirty(mask: UInt64, firstDirtyMs: Int64, generation: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 24); w.u64(mask); w.time(firstDirtyMs); w.u64(generation); return w.bytes
    }

    static func decodeDirty(_ user: UserKey, _ v: UnsafeRawBufferPointer) throws -> DirtyUser {
        var r = ByteReader(v, table: "dirty")
        return DirtyUser(user: user, modalityMask: try r.u64("mask"), firstDirtyMs: try r.time("first-dirty time"),
                         generation: try r.u64("generation"))
    }

    // users: 0 (never refreshed) | 1, version u64, refreshed time, newest event time, fingerprint (rest)
    static let neverRefreshed: [UInt8] = [0]

    static func encodeRefresh(_ r: RefreshRecord) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + r.fingerprint.utf8.count)
        w.u8(1); w.u64(r.version); w.time(r.refreshedAtMs); w.time(r.newestEventMs); w.append(r.fingerprint.utf8)
        return w.bytes
    }

    static func decodeRefresh(_ v: UnsafeRawBufferPointer) throws -> RefreshRecord? {
        var r = ByteReader(v, table: "users")
        switch try r.u8("refresh flag") {
        case 0: return nil
        case 1:
            return RefreshRecord(version: try r.u64("version"), fingerprint: "", refreshedAtMs: try r.time("refreshed time"),
                                 newestEventMs: try r.time("newest event time"))
                .with(fingerprint: String(decoding: r.rest(), as: UTF8.self))
        case let f:
            throw StoreError.corruptRecord(table: "users", key: hex(v), reason: "unknown refresh flag \(f)")
        }
    }

    // tabular: time | event id (short) | vector blob
    struct TabularHead {
        var timestampMs: Int64
        var eventID: String
        var blobOffset: Int
    }

    static func decodeTabularHead(_ v: UnsafeRawBufferPointer) throws -> TabularHead {
        var r = ByteReader(v, table: "tabular")
        let ts = try r.time("snapshot time")
        let eid = try r.shortString("event id")
        return TabularHead(timestampMs: ts, eventID: eid, blobOffset: r.offset)
    }

    static func decodeTabular(_ v: UnsafeRawBufferPointer) throws -> TabularSnapshot {
        let head = try decodeTabularHead(v)
        let features = try VectorCodec.decode(UnsafeRawBufferPointer(rebasing: v[head.blobOffset...]),
                                              table: "tabular", key: head.eventID)
        return TabularSnapshot(eventID: head.eventID, timestampMs: head.timestampMs, features: features)
    }

    // events value: text hash (short) | vector blob
    static func decodeEventValue(_ v: UnsafeRawBufferPointer, key: Keys.EventKey) throws -> StoredEvent {
        var r = ByteReader(v, table: "events")
        let hash = try r.short("text hash")
        let vector = try VectorCodec.decode(r.restView(), table: "events", key: key.eventID)
        return StoredEvent(eventID: key.eventID, timestampMs: key.timestampMs, textHash: hash, vector: vector)
    }
}

extension RefreshRecord {
    fileprivate func with(fingerprint: String) -> RefreshRecord {
        var r = self; r.fingerprint = fingerprint; return r
    }
}
