/// The named LMDB databases of schema version 1. See docs/store.md for every key and value layout.
///
/// Layout principle: everything written per event for a user lives in that user's contiguous key range
/// of `users` (header, event index, dedup entries, snapshots, outputs), so an ingest dirties about one
/// random page per user touched; the large vectors go to `vectors`, appended in arrival order.
struct Tables: Sendable {
    static let names = ["meta", "users", "vectors", "expiry", "dirty", "offsets", "cache", "prefixkv", "prefixlru"]
    /// meta: UTF-8 name → value (schema version, modality list, sequences, counters).
    let meta: LMDBDatabase
    /// users: per-user range `U = partition u32 | user id (short)`, followed by a record tag:
    /// `U|00` header, `U|01|m|time|event id` event index, `U|02|m|event id` dedup, `U|03|m` tabular
    /// snapshot, `U|04|scenario` published output, `U|05` input digest of the last refresh (schema 2).
    let users: LMDBDatabase
    /// vectors: sequence u64 → vector blob. Appended (`MDB_APPEND`) in arrival order.
    let vectors: LMDBDatabase
    /// expiry: time | item key (`U|01|m|time|event id` or `U|03|m|time|event id`) → empty. Time-ordered.
    let expiry: LMDBDatabase
    /// dirty: `U` → empty, for every user whose header carries a non-zero dirty mask.
    let dirty: LMDBDatabase
    /// offsets: partition u32 | topic → next offset i64.
    let offsets: LMDBDatabase
    /// cache: m | text hash → last-used day u32 | vector blob.
    let cache: LMDBDatabase
    /// prefixkv: `U` → tick u64 | content hash (short) | fingerprint (u16 length + bytes) | body length u64;
    /// `U|01` → the state's bytes (schema 3; before, one record held both).
    let prefixKV: LMDBDatabase
    /// prefixlru: tick u64 | `U` → empty. Oldest tick = least recently stored.
    let prefixLRU: LMDBDatabase

    init(_ d: [String: LMDBDatabase]) {
        meta = d["meta"]!; users = d["users"]!; vectors = d["vectors"]!; expiry = d["expiry"]!
        dirty = d["dirty"]!; offsets = d["offsets"]!; cache = d["cache"]!; prefixKV = d["prefixkv"]!
        prefixLRU = d["prefixlru"]!
    }
}

/// Record tags inside a user's range of `users`.
enum UserRecordTag: UInt8 {
    case header = 0
    case event = 1
    case dedup = 2
    case snapshot = 3
    case output = 4
    case digest = 5
}

/// Key builders. Integers are big-endian, times sign-flipped, so byte order = logical order.
enum Keys {
    static func partition(_ p: Int32) -> [UInt8] {
        var w = ByteWriter(capacity: 4); w.u32(UInt32(bitPattern: p)); return w.bytes
    }

    /// `U`: partition u32 | user id (short).
    static func user(_ u: UserKey) -> [UInt8] {
        var w = ByteWriter(capacity: 24 + u.userID.utf8.count)
        w.u32(UInt32(bitPattern: u.partition)); w.short(u.userID.utf8)
        return w.bytes
    }

    static func header(_ u: UserKey) -> [UInt8] { user(u) + [UserRecordTag.header.rawValue] }

    /// `U|01|m`: the prefix of one modality's event index.
    static func eventPrefix(_ u: UserKey, _ m: Int) -> [UInt8] { user(u) + [UserRecordTag.event.rawValue, UInt8(m)] }

    /// `U|01|m|time|event id`.
    static func event(_ u: UserKey, _ m: Int, _ ts: Int64, _ eventID: String) -> [UInt8] {
        var w = ByteWriter(capacity: 32 + u.userID.utf8.count + eventID.utf8.count)
        w.append(eventPrefix(u, m)); w.time(ts); w.append(eventID.utf8)
        return w.bytes
    }

    /// `U|02|m|event id`.
    static func dedup(_ u: UserKey, _ m: Int, _ eventID: String) -> [UInt8] {
        user(u) + [UserRecordTag.dedup.rawValue, UInt8(m)] + Array(eventID.utf8)
    }

    /// `U|03|m`.
    static func snapshot(_ u: UserKey, _ m: Int) -> [UInt8] { user(u) + [UserRecordTag.snapshot.rawValue, UInt8(m)] }

    /// `U|04|scenario`.
    static func output(_ u: UserKey, _ scenario: String) -> [UInt8] {
        user(u) + [UserRecordTag.output.rawValue] + Array(scenario.utf8)
    }

    /// `U|05`.
    static func digest(_ u: UserKey) -> [UInt8] { user(u) + [UserRecordTag.digest.rawValue] }

    /// time | item, where item is `U|tag|m|time|event id` (tag 01 event, 03 snapshot).
    static func expiry(_ tag: UserRecordTag, _ u: UserKey, _ m: Int, _ ts: Int64, _ eventID: String) -> [UInt8] {
        var w = ByteWriter(capacity: 48 + u.userID.utf8.count + eventID.utf8.count)
        w.time(ts); w.append(user(u)); w.u8(tag.rawValue); w.u8(UInt8(m)); w.time(ts); w.append(eventID.utf8)
        return w.bytes
    }

    static func sequence(_ s: UInt64) -> [UInt8] { var w = ByteWriter(capacity: 8); w.u64(s); return w.bytes }

    static func offset(_ p: Int32, _ topic: String) -> [UInt8] {
        var w = ByteWriter(capacity: 4 + topic.utf8.count); w.u32(UInt32(bitPattern: p)); w.append(topic.utf8); return w.bytes
    }

    static func cache(_ m: Int, _ hash: [UInt8]) -> [UInt8] { [UInt8(truncatingIfNeeded: m)] + hash }

    /// `U|01`: the body of a cached prefix state in `prefixkv`.
    static func prefixKVBody(_ u: UserKey) -> [UInt8] { user(u) + [1] }

    static func lru(_ tick: UInt64, _ u: UserKey) -> [UInt8] {
        var w = ByteWriter(capacity: 16); w.u64(tick); w.append(user(u)); return w.bytes
    }

    /// A decoded `U|tag|m|time|event id` item (event index key or expiry item).
    struct ItemKey {
        var user: UserKey
        var tag: UInt8
        var modality: Int
        var timestampMs: Int64
        var eventID: String
    }

    static func decodeItem(_ key: UnsafeRawBufferPointer, table: String, offset: Int = 0) throws -> ItemKey {
        var r = ByteReader(key, table: table, offset: offset)
        let p = Int32(bitPattern: try r.u32("partition"))
        let user = try r.shortString("user id")
        let tag = try r.u8("record tag")
        let m = Int(try r.u8("modality"))
        let ts = try r.time("event time")
        let eid = String(decoding: r.rest(), as: UTF8.self)
        return ItemKey(user: UserKey(partition: p, userID: user), tag: tag, modality: m, timestampMs: ts, eventID: eid)
    }

    /// Decodes the `U` at the start of a key; returns the user and the offset just after it.
    static func decodeUser(_ key: UnsafeRawBufferPointer, table: String) throws -> (UserKey, rest: Int) {
        var r = ByteReader(key, table: table)
        let p = Int32(bitPattern: try r.u32("partition"))
        let user = try r.shortString("user id")
        return (UserKey(partition: p, userID: user), r.offset)
    }

    /// The smallest key greater than every key starting with `prefix`, or nil if none exists.
    static func successor(of prefix: [UInt8]) -> [UInt8]? {
        var k = prefix
        while let last = k.last {
            if last == 0xFF { k.removeLast() } else { k[k.count - 1] = last + 1; return k }
        }
        return nil
    }
}
