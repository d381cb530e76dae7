extension EventStore {
    /// The cached prefix KV bytes of `user` if they were stored for this `contentHash` and `fingerprint`;
    /// nil otherwise (absent, stale content or another model).
    public func prefixKV(_ user: UserKey, contentHash: [UInt8], fingerprint: String) throws -> [UInt8]? {
        try read { txn in
            guard let v = try txn.get(tables.prefixKV, Keys.user(user)) else { return nil }
            var r = ByteReader(v, table: "prefixkv")
            _ = try r.u64("tick")
            guard try r.short("content hash") == contentHash else { return nil }
            let fpLength = Int(try r.u16("fingerprint length"))
            guard try r.bytes(fpLength, "fingerprint") == Array(fingerprint.utf8) else { return nil }
            return r.rest()
        }
    }

    /// Stores `entry` as `user`'s prefix KV state (replacing the previous one), then evicts the least
    /// recently stored entries until the total is within `prefixKVBudgetBytes`. Returns the number evicted.
    /// Throws `invalidInput` when the cache is disabled or the entry alone exceeds the budget.
    public func storePrefixKV(_ entry: PrefixKVEntry, for user: UserKey) async throws -> Int {
        let budget = configuration.prefixKVBudgetBytes
        try Self.validate(user, item: "prefix KV of \(user)")
        guard entry.contentHash.count >= 1 && entry.contentHash.count <= 64, entry.fingerprint.utf8.count <= 65535 else {
            throw StoreError.invalidInput(item: "prefix KV of \(user)", reason: "content hash must be 1…64 bytes and fingerprint < 64 KiB")
        }
        var w = ByteWriter(capacity: entry.bytes.count + 80)
        w.u64(0); w.short(entry.contentHash); w.u16(UInt16(entry.fingerprint.utf8.count)); w.append(entry.fingerprint.utf8)
        w.append(entry.bytes)
        guard w.bytes.count <= budget else {
            throw StoreError.invalidInput(item: "prefix KV of \(user)",
                                          reason: "\(w.bytes.count) bytes exceed prefixKVBudgetBytes \(budget)")
        }
        let tables = self.tables
        let value = w.bytes
        return try await write { txn in
            var value = value
            let tick = (try Meta.u64(txn, tables, "kv/tick") ?? 0) + 1
            try Meta.putU64(txn, tables, "kv/tick", tick)
            for i in 0..<8 { value[i] = UInt8((tick >> UInt64(56 - 8 * i)) & 0xFF) }
            var total = try Meta.counter(txn, tables, "kv/bytes")
            total -= try Self.removePrefixKV(user, txn: txn, tables: tables)
            try txn.put(tables.prefixKV, Keys.user(user), value)
            try txn.put(tables.prefixLRU, Keys.lru(tick, user), [])
            total += value.count
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

    /// Deletes `user`'s prefix KV entry and its LRU entry; returns the bytes freed.
    static func removePrefixKV(_ user: UserKey, txn: LMDBTransaction, tables: Tables) throws -> Int {
        let key = Keys.user(user)
        guard let v = try txn.get(tables.prefixKV, key) else { return 0 }
        var r = ByteReader(v, table: "prefixkv")
        let tick = try r.u64("tick")
        let size = v.count
        try txn.delete(tables.prefixLRU, Keys.lru(tick, user))
        try txn.delete(tables.prefixKV, key)
        return size
    }
}
