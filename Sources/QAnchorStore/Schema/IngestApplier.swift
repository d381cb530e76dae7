/// Applies one `IngestRecord` inside a write transaction: the body of every ingest, live or replayed
/// from the journal. Deterministic: the same record on the same database state writes the same entries
/// (the journal recovery and the writer's re-application after an abort rely on it).
enum IngestApplier {
    /// Stores the record's events (deduplicated, capped at K_m per user and text modality, inside the
    /// window as of the record's `now`), dirty marks, offsets and cache entries.
    static func apply(_ record: UnsafeRawBufferPointer, txn: LMDBTransaction, tables: Tables,
                      config: StoreConfiguration) throws -> IngestResult {
        var reader = try IngestRecordReader(record, modalities: config.modalities.count)
        var result = IngestResult()
        // One cursor per table: consecutive operations on one user's range (dedup, header, index, cap
        // walk) and nearly time-ordered expiry keys then stay on one leaf page without a root descent.
        let users = try txn.cursor(tables.users), expiry = try txn.cursor(tables.expiry)
        let vectors = try txn.cursor(tables.vectors)
        var ctx = WriteContext(txn: txn, tables: tables, usersCursor: users)
        let cutoff = reader.nowMs - config.windowMilliseconds
        // Index keys inserted by this record, per (user, text modality) touched (a few each: a list).
        var inserted: [Touched: (prefix: [UInt8], keys: [[UInt8]])] = [:]

        for _ in 0..<reader.eventCount {
            let e = try reader.event()
            if e.timestampMs < cutoff { result.outsideWindow += 1; continue }
            let dedupKey = userKey(e.userBytes, .dedup, e.modality, extra: 0) { $0.append(contentsOf: e.eventID) }
            if try users.find(dedupKey) != nil { result.duplicates += 1; continue }
            try ctx.ensureUser(e.user)
            let time = timeBytes(e.timestampMs)

            if e.isText {
                let sequence = try ctx.nextVectorSequence()
                try vectors.put(Keys.sequence(sequence), reserving: e.blob.count, append: true) { out in
                    out.copyMemory(from: e.blob)
                }
                let indexKey = userKey(e.userBytes, .event, e.modality, extra: 8 + e.eventID.count) {
                    $0.append(contentsOf: time); $0.append(contentsOf: e.eventID)
                }
                var value = [UInt8](); value.reserveCapacity(9 + e.textHash.count)
                withUnsafeBytes(of: sequence.bigEndian) { value.append(contentsOf: $0) }
                value.append(UInt8(e.textHash.count)); value.append(contentsOf: e.textHash)
                try users.put(indexKey, value)
                try expiry.put(expiryKey(time, indexKey), [])
                ctx.counterDeltas[e.modality, default: 0] += 1
                let touched = Touched(user: e.user, modality: e.modality)
                if inserted[touched] == nil { inserted[touched] = (Array(indexKey.prefix(e.userBytes.count + 2)), []) }
                inserted[touched]?.keys.append(indexKey)
            } else {
                let eventID = String(decoding: e.eventID, as: UTF8.self)
                let slot = userKey(e.userBytes, .snapshot, e.modality, extra: 0) { _ in }
                if let old = try users.find(slot) {
                    let head = try RecordCoding.decodeSnapshotHead(old)
                    if (head.timestampMs, head.eventID) >= (e.timestampMs, eventID) {
                        result.superseded += 1
                        continue
                    }
                    try ctx.removeSnapshot(e.user, modality: e.modality, head: head)
                    result.pruned += 1
                }
                var value = [UInt8](); value.reserveCapacity(9 + e.eventID.count + e.blob.count)
                value.append(contentsOf: time); value.append(UInt8(e.eventID.count)); value.append(contentsOf: e.eventID)
                value.append(contentsOf: e.blob)
                try users.put(slot, value)
                let item = userKey(e.userBytes, .snapshot, e.modality, extra: 8 + e.eventID.count) {
                    $0.append(contentsOf: time); $0.append(contentsOf: e.eventID)
                }
                try expiry.put(expiryKey(time, item), [])
                ctx.counterDeltas[e.modality, default: 0] += 1
                ctx.markDirty(e.user, modality: e.modality)
                result.stored += 1
            }
            try users.put(dedupKey, time)
        }

        try enforceCapAndWindow(inserted, cutoff: cutoff, cursor: users, ctx: &ctx, result: &result, config: config)

        for _ in 0..<reader.offsetCount {
            let o = try reader.offset()
            var w = ByteWriter(capacity: 8); w.i64(o.nextOffset)
            try txn.put(tables.offsets, Keys.offset(o.partition, o.topic), w.bytes)
        }
        let day = UInt32(clamping: max(0, reader.nowMs / 86_400_000))
        for _ in 0..<reader.cacheCount {
            let c = try reader.cacheEntry()
            var key = [UInt8](); key.reserveCapacity(1 + c.hash.count)
            key.append(UInt8(c.modality)); key.append(contentsOf: c.hash)
            var w = ByteWriter(capacity: 4 + c.blob.count); w.u32(day); w.append(c.blob)
            try txn.put(tables.cache, key, w.bytes)
        }
        try reader.finish()
        result.dirtiedUsers = try ctx.finish(nowMs: reader.nowMs)
        result.removed = ctx.removedEvents
        return result
    }

    /// Keeps the `K_m` newest in-window events of every (user, text modality) the record added to
    /// (walking the index backward); the rest go with their dedup, expiry and vector entries.
    /// A (user, text modality) an ingest added to.
    struct Touched: Hashable {
        var user: UserKey
        var modality: Int
    }

    private static func enforceCapAndWindow(_ inserted: [Touched: (prefix: [UInt8], keys: [[UInt8]])],
                                            cutoff: Int64, cursor: LMDBCursor, ctx: inout WriteContext,
                                            result: inout IngestResult, config: StoreConfiguration) throws {
        for (touched, entry) in inserted {
            let prefix = entry.prefix
            let cap = config.modalities[touched.modality].cap
            var survivors = entry.keys
            var doomed: [(key: [UInt8], sequence: UInt64)] = []
            do {
                var kept = 0
                var current = try cursor.last(withPrefix: prefix)
                while let (k, v) = current, k.starts(with: prefix) {
                    var r = ByteReader(k, table: "users(event)", offset: prefix.count)
                    let ts = try r.time("event time")
                    if kept < cap && ts >= cutoff {
                        kept += 1
                    } else {
                        doomed.append((Array(k), try RecordCoding.decodeEventIndex(v).sequence))
                    }
                    current = try cursor.previous()
                }
            }
            for (keyBytes, sequence) in doomed {
                let item = try keyBytes.withUnsafeBytes { try Keys.decodeItem($0, table: "users(event)") }
                try ctx.removeEvent(item, indexKey: keyBytes, sequence: sequence)
                if let i = survivors.firstIndex(of: keyBytes) {
                    survivors.remove(at: i)
                    result.superseded += 1
                } else {
                    result.pruned += 1
                    ctx.markDirty(touched.user, modality: touched.modality)
                }
            }
            if !survivors.isEmpty {
                result.stored += survivors.count
                ctx.markDirty(touched.user, modality: touched.modality)
            }
        }
    }

    /// `U | tag | m | …` built from the user's key bytes.
    @inline(__always)
    private static func userKey(_ user: UnsafeRawBufferPointer, _ tag: UserRecordTag, _ m: Int, extra: Int,
                                _ rest: (inout [UInt8]) -> Void) -> [UInt8] {
        var k = [UInt8](); k.reserveCapacity(user.count + 2 + extra + 16)
        k.append(contentsOf: user); k.append(tag.rawValue); k.append(UInt8(m))
        rest(&k)
        return k
    }

    /// `time | item`: the expiry index key (see `Keys.expiry`).
    @inline(__always)
    private static func expiryKey(_ time: [UInt8], _ item: [UInt8]) -> [UInt8] {
        var k = [UInt8](); k.reserveCapacity(8 + item.count)
        k.append(contentsOf: time); k.append(contentsOf: item)
        return k
    }

    @inline(__always)
    private static func timeBytes(_ ms: Int64) -> [UInt8] {
        withUnsafeBytes(of: (UInt64(bitPattern: ms) ^ (1 << 63)).bigEndian) { Array($0) }
    }
}
