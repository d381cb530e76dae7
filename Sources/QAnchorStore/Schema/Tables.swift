/// The named LMDB databases of schema version 1. See docs/store.md for every key and value layout.
struct Tables: Sendable {
    static let names = ["meta", "events", "dedup", "expiry", "tabular", "dirty", "users", "outputs",
                        "offsets", "cache", "prefixkv", "prefixlru"]
    /// meta: UTF-8 name → value (schema version, modality list, counters).
    let meta: LMDBDatabase
    /// events: user | m | time | event id → text hash (short) | vector blob.
    let events: LMDBDatabase
    /// dedup: partition | m | event id → user id (short) | time. Present exactly while the item is stored.
    let dedup: LMDBDatabase
    /// expiry: time | item key (an events key shape) → empty. Time-ordered; the sweep reads its head.
    let expiry: LMDBDatabase
    /// tabular: user | m → time | event id (short) | vector blob.
    let tabular: LMDBDatabase
    /// dirty: user → mask u64 | first-dirty time | generation u64.
    let dirty: LMDBDatabase
    /// users: user → refresh record (present for every user that has ever stored anything).
    let users: LMDBDatabase
    /// outputs: user | scenario → published record bytes.
    let outputs: LMDBDatabase
    /// offsets: partition | topic → next offset.
    let offsets: LMDBDatabase
    /// cache: m | text hash → last-used day u32 | vector blob.
    let cache: LMDBDatabase
    /// prefixkv: user → tick u64 | content hash (short) | fingerprint (u16 length) | bytes.
    let prefixKV: LMDBDatabase
    /// prefixlru: tick u64 | user → size u64. Oldest tick = least recently stored.
    let prefixLRU: LMDBDatabase

    init(_ d: [String: LMDBDatabase]) {
        meta = d["meta"]!; events = d["events"]!; dedup = d["dedup"]!; expiry = d["expiry"]!
        tabular = d["tabular"]!; dirty = d["dirty"]!; users = d["users"]!; outputs = d["outputs"]!
        offsets = d["offsets"]!; cache = d["cache"]!; prefixKV = d["prefixkv"]!; prefixLRU = d["prefixlru"]!
    }

    /// Every partition-first table (the ones a partition drop clears by range).
    var partitionFirst: [LMDBDatabase] { [offsets, dirty, users, outputs, prefixKV, tabular, dedup, events] }
}

/// Key builders. Integers are big-endian, times sign-flipped, so byte order = logical order.
enum Keys {
    static func partition(_ p: Int32) -> [UInt8] {
        var w = ByteWriter(capacity: 4); w.u32(UInt32(bitPattern: p)); return w.bytes
    }

    /// partition u32 | user id (short).
    static func user(_ u: UserKey) -> [UInt8] {
        var w = ByteWriter(capacity: 6 + u.userID.utf8.count)
        w.u32(UInt32(bitPattern: u.partition)); w.short(u.userID.utf8)
        return w.bytes
    }

    static func userModality(_ u: UserKey, _ m: Int) -> [UInt8] {
        var k = user(u); k.append(UInt8(m)); return k
    }

    /// user | m | time | event id (raw, to the end of the key).
    static func event(_ u: UserKey, _ m: Int, _ ts: Int64, _ eventID: String) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + u.userID.utf8.count + eventID.utf8.count)
        w.u32(UInt32(bitPattern: u.partition)); w.short(u.userID.utf8); w.u8(UInt8(m)); w.time(ts); w.append(eventID.utf8)
        return w.bytes
    }

    static func dedup(_ p: Int32, _ m: Int, _ eventID: String) -> [UInt8] {
        var w = ByteWriter(capacity: 5 + eventID.utf8.count)
        w.u32(UInt32(bitPattern: p)); w.u8(UInt8(m)); w.append(eventID.utf8)
        return w.bytes
    }

    static func expiry(_ ts: Int64, _ eventKey: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 8 + eventKey.count); w.time(ts); w.append(eventKey); return w.bytes
    }

    static func offset(_ p: Int32, _ topic: String) -> [UInt8] {
        var w = ByteWriter(capacity: 4 + topic.utf8.count); w.u32(UInt32(bitPattern: p)); w.append(topic.utf8); return w.bytes
    }

    static func cache(_ m: Int, _ hash: [UInt8]) -> [UInt8] { [UInt8(m)] + hash }

    static func output(_ u: UserKey, _ scenario: String) -> [UInt8] { user(u) + Array(scenario.utf8) }

    static func lru(_ tick: UInt64, _ u: UserKey) -> [UInt8] {
        var w = ByteWriter(capacity: 16); w.u64(tick); w.append(user(u)); return w.bytes
    }

    /// A decoded events key.
    struct EventKey {
        var user: UserKey
        var modality: Int
        var timestampMs: Int64
        var eventID: String
    }

    static func decodeEvent(_ key: UnsafeRawBufferPointer, table: String, offset: Int = 0) throws -> EventKey {
        var r = ByteReader(key, table: table, offset: offset)
        let p = Int32(bitPattern: try r.u32("partition"))
        let user = try r.shortString("user id")
        let m = Int(try r.u8("modality"))
        let ts = try r.time("event time")
        let eid = String(decoding: r.rest(), as: UTF8.self)
        return EventKey(user: UserKey(partition: p, userID: user), modality: m, timestampMs: ts, eventID: eid)
    }

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
