extension EventStore {
    /// The cached prefix KV bytes of `user` if they were stored for this `contentHash` and `fingerprint`;
    /// nil otherwise (absent, stale content or another model). Reading does not change the LRU order: see
    /// ``touchPrefixKV(_:)``.
    public func prefixKV(_ user: UserKey, contentHash: [UInt8], fingerprint: String) throws -> [UInt8]? {
        try read { txn in
            guard let header = try txn.get(tables.prefixKV, Keys.user(user)) else { return nil }
            let h = try PrefixKVHeader(header)
            guard h.contentHash == contentHash, h.fingerprint == Array(fingerprint.utf8),
                  let body = try txn.get(tables.prefixKV, Keys.prefixKVBody(user)) else { return nil }
            // Copied out of the map inside the read transaction.
            guard body.count == h.bodyBytes else {
                throw StoreError.corruptRecord(table: "prefixkv", key: "\(user)",
                                               reason: "body has \(body.count) bytes, its header says \(h.bodyBytes)")
            }
            return Array(body)
        }
    }

    /// Whether `user` has a cached entry (for any content or model).
    public func hasPrefixKV(_ user: UserKey) throws -> Bool {
        try read { txn in try txn.get(tables.prefixKV, Keys.user(user)) != nil }
    }

    /// Makes `user`'s entry the most recently used (it is evicted last). Rewrites only the small header, never the
    /// stored state. Returns false when the user has no entry.
    @discardableResult
    public func touchPrefixKV(_ user: UserKey) async throws -> Bool {
        let tables = self.tables
        return try await write { txn in
            guard let old = try txn.get(tables.prefixKV, Keys.user(user)) else { return false }
            var h = try PrefixKVHeader(old)
            let tick = (try Meta.u64(txn, tables, "kv/tick") ?? 0) + 1
            try Meta.putU64(txn, tables, "kv/tick", tick)
            try txn.delete(tables.prefixLRU, Keys.lru(h.tick, user))
            h.tick = tick
            try txn.put(tables.prefixKV, Keys.user(user), h.encoded)
            try txn.put(tables.prefixLRU, Keys.lru(tick, user), [])
            return true
        }
    }

    /// Stores `entry` as `user`'s prefix KV state (replacing the previous one) as the most recently used, then
    /// evicts the least recently used entries until the total is within `prefixKVBudgetBytes`. Returns the number
    /// evicted. Throws `invalidInput` when the cache is disabled or the entry alone exceeds the budget.
    public func storePrefixKV(_ entry: PrefixKVEntry, for user: UserKey) async throws -> Int {
        let budget = configuration.prefixKVBudgetBytes
        try Self.validate(user, item: "prefix KV of \(user)")
        guard entry.contentHash.count >= 1 && entry.contentHash.count <= 64, entry.fingerprint.utf8.count <= 65535 else {
            throw StoreError.invalidInput(item: "prefix KV of \(user)", reason: "content hash must be 1…64 bytes and fingerprint < 64 KiB")
        }
        let header = PrefixKVHeader(tick: 0, contentHash: entry.contentHash, fingerprint: Array(entry.fingerprint.utf8),
                                    bodyBytes: entry.bytes.count)
        let size = header.encoded.count + entry.bytes.count
        guard size <= budget else {
            throw StoreError.invalidInput(item: "prefix KV of \(user)", reason: "\(size) bytes exceed prefixKVBudgetBytes \(budget)")
        }
        let tables = self.tables
        let body = entry.bytes
        return try await write { txn in
            let tick = (try Meta.u64(txn, tables, "kv/tick") ?? 0) + 1
            try Meta.putU64(txn, tables, "kv/tick", tick)
            var header = header
            header.tick = tick
            var total = try Meta.counter(txn, tables, "kv/bytes")
            total -= try Self.removePrefixKV(user, txn: txn, tables: tables)
            try txn.put(tables.prefixKV, Keys.user(user), header.encoded)
            try txn.put(tables.prefixKV, Keys.prefixKVBody(user), body)
            try txn.put(tables.prefixLRU, Keys.lru(tick, user), [])
            total += size
            var evicted = 0
            while total > budget {
                let cursor = try txn.cursor(tables.prefixLRU)
                guard let (k, _) = try cursor.first() else { break }
                let (victim, _) = try Keys.decodeUser(UnsafeRawBufferPointer(rebasing: k[8...]), table: "prefixlru")
                total -= try Self.removePrefixKV(victim, txn: txn, tables: tables)
                evicted += 1
            }
            try Meta.putU64(txn, tables, "kv/bytes", UInt64(bitPattern: Int64(total)))
            return evicted
        }
    }

    /// Deletes `user`'s prefix KV entry (header, body) and its LRU entry; returns the bytes freed.
    static func removePrefixKV(_ user: UserKey, txn: LMDBTransaction, tables: Tables) throws -> Int {
        let key = Keys.user(user)
        guard let v = try txn.get(tables.prefixKV, key) else { return 0 }
        let h = try PrefixKVHeader(v)
        try txn.delete(tables.prefixLRU, Keys.lru(h.tick, user))
        try txn.delete(tables.prefixKV, key)
        try txn.delete(tables.prefixKV, Keys.prefixKVBody(user))
        return v.count + h.bodyBytes
    }
}

/// The header record of a cached prefix state (`prefixkv` key `U`): tick u64 | content hash (short) |
/// fingerprint (u16 length + bytes) | body length u64. The state itself is the `U|01` record, so moving an entry in
/// the LRU order rewrites a few dozen bytes, not megabytes.
struct PrefixKVHeader {
    var tick: UInt64
    var contentHash: [UInt8]
    var fingerprint: [UInt8]
    var bodyBytes: Int

    init(tick: UInt64, contentHash: [UInt8], fingerprint: [UInt8], bodyBytes: Int) {
        self.tick = tick
        self.contentHash = contentHash
        self.fingerprint = fingerprint
        self.bodyBytes = bodyBytes
    }

    init(_ bytes: UnsafeRawBufferPointer) throws {
        var r = ByteReader(bytes, table: "prefixkv")
        tick = try r.u64("tick")
        contentHash = try r.short("content hash")
        fingerprint = try r.bytes(Int(try r.u16("fingerprint length")), "fingerprint")
        let length = try r.u64("body length")
        guard let bodyBytes = Int(exactly: length) else { throw r.corrupt("body length \(length) is out of range") }
        self.bodyBytes = bodyBytes
    }

    var encoded: [UInt8] {
        var w = ByteWriter(capacity: 20 + contentHash.count + fingerprint.count)
        w.u64(tick); w.short(contentHash); w.u16(UInt16(fingerprint.count)); w.append(fingerprint); w.u64(UInt64(bodyBytes))
        return w.bytes
    }
}
