extension EventStore {
    /// Counts of one partition's users, events, snapshots and dirty users, and its stored offsets.
    /// Scans the partition's key ranges (cost proportional to its size).
    public func partitionSummary(_ partition: Int32) throws -> PartitionSummary {
        try read { txn in
            let prefix = Keys.partition(partition)
            return PartitionSummary(partition: partition,
                                    users: try txn.count(tables.users, prefix: prefix),
                                    events: try txn.count(tables.events, prefix: prefix),
                                    snapshots: try txn.count(tables.tabular, prefix: prefix),
                                    dirtyUsers: try txn.count(tables.dirty, prefix: prefix),
                                    offsets: try storedOffsets(partition: partition, txn: txn))
        }
    }

    /// Calls `body` with the state of every user of `partition`, in key order, from one consistent
    /// read transaction (an export). A long export keeps old pages from being reused meanwhile.
    public func forEachUser(inPartition partition: Int32, _ body: (UserState) throws -> Void) throws {
        try read { txn in
            var users: [UserKey] = []
            try txn.scan(tables.users, prefix: Keys.partition(partition)) { k, _ in
                users.append(try Keys.decodeUser(k, table: "users").0)
                return true
            }
            for u in users {
                if let state = try userState(u, txn: txn) { try body(state) }
            }
        }
    }

    /// Removes everything stored for `partition` (offsets first, then dirty marks, users, outputs, prefix
    /// KV, snapshots, dedup entries and events with their expiry entries), in transactions of at most
    /// `keysPerTransaction` deletions. Returns the number of keys removed.
    ///
    /// The offsets go first, so a drop interrupted by a crash leaves a partition without offsets, which
    /// the daemon treats as "rebuild by replay"; run the drop again to finish it.
    public func dropPartition(_ partition: Int32, keysPerTransaction: Int = 5000) async throws -> Int {
        let tables = self.tables
        let chunk = max(1, keysPerTransaction)
        var total = 0
        while true {
            let (removed, done) = try await write { txn in
                try Self.dropStep(partition, txn: txn, tables: tables, limit: chunk)
            }
            total += removed
            if done { return total }
        }
    }

    static func dropStep(_ partition: Int32, txn: LMDBTransaction, tables: Tables, limit: Int) throws -> (Int, Bool) {
        let prefix = Keys.partition(partition)
        var ctx = WriteContext(txn: txn, tables: tables)
        var removed = 0
        var kvBytes = 0
        for table in tables.partitionFirst {
            let cursor = try txn.cursor(table)
            var entry = try cursor.seek(atOrAfter: prefix)
            while let (k, v) = entry, k.starts(with: prefix) {
                if removed == limit {
                    try Meta.add(txn, tables, "kv/bytes", -kvBytes)
                    _ = try ctx.finish(nowMs: 0)
                    return (removed, false)
                }
                if table == tables.events {
                    let key = try Keys.decodeEvent(k, table: "events")
                    try txn.delete(tables.expiry, Keys.expiry(key.timestampMs, Array(k)))
                    ctx.counterDeltas[key.modality, default: 0] -= 1
                } else if table == tables.tabular {
                    let (user, rest) = try Keys.decodeUser(k, table: "tabular")
                    let m = Int(k[rest])
                    let head = try RecordCoding.decodeTabularHead(v)
                    try txn.delete(tables.expiry, Keys.expiry(head.timestampMs, Keys.event(user, m, head.timestampMs, head.eventID)))
                    ctx.counterDeltas[m, default: 0] -= 1
                } else if table == tables.prefixKV {
                    let (user, _) = try Keys.decodeUser(k, table: "prefixkv")
                    var r = ByteReader(v, table: "prefixkv")
                    try txn.delete(tables.prefixLRU, Keys.lru(try r.u64("tick"), user))
                    kvBytes += v.count
                }
                try cursor.deleteCurrent()
                removed += 1
                entry = try cursor.seek(atOrAfter: prefix)
            }
        }
        try Meta.add(txn, tables, "kv/bytes", -kvBytes)
        _ = try ctx.finish(nowMs: 0)
        return (removed, true)
    }
}
