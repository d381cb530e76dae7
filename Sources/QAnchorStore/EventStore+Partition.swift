extension EventStore {
    /// Counts of one partition's users, events, snapshots and dirty users, and its stored offsets.
    /// Scans the partition's key range (cost proportional to its size).
    public func partitionSummary(_ partition: Int32) throws -> PartitionSummary {
        try read { txn in
            let prefix = Keys.partition(partition)
            var users = 0, events = 0, snapshots = 0
            try txn.scan(tables.users, prefix: prefix) { k, _ in
                let (_, rest) = try Keys.decodeUser(k, table: "users")
                guard rest < k.count else { throw StoreError.corruptRecord(table: "users", key: hex(k), reason: "no record tag") }
                switch UserRecordTag(rawValue: k[rest]) {
                case .header?: users += 1
                case .event?: events += 1
                case .snapshot?: snapshots += 1
                default: break
                }
                return true
            }
            return PartitionSummary(partition: partition, users: users, events: events, snapshots: snapshots,
                                    dirtyUsers: try txn.count(tables.dirty, prefix: prefix),
                                    offsets: try storedOffsets(partition: partition, txn: txn))
        }
    }

    /// Calls `body` with the state of every user of `partition`, in key order, from one consistent
    /// read transaction (an export). A long export keeps old pages from being reused meanwhile.
    public func forEachUser(inPartition partition: Int32, _ body: (UserState) throws -> Void) throws {
        try read { txn in
            var after: UserKey? = nil
            while true {
                let page = try users(inPartition: partition, after: after, limit: 1000, txn: txn)
                for u in page {
                    if let state = try userState(u, txn: txn) { try body(state) }
                }
                guard let last = page.last else { return }
                after = last
            }
        }
    }

    /// Removes everything stored for `partition` — its offsets first, then dirty marks, prefix KV
    /// entries and the users' ranges with their vectors and expiry entries — in transactions of at most
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
        var removed = 0, kvBytes = 0, users = 0
        func finish(_ done: Bool) throws -> (Int, Bool) {
            try Meta.add(txn, tables, "kv/bytes", -kvBytes)
            try Meta.add(txn, tables, "count/users", -users)
            _ = try ctx.finish(nowMs: 0)
            return (removed, done)
        }
        for table in [tables.offsets, tables.dirty, tables.prefixKV, tables.users] {
            let cursor = try txn.cursor(table)
            var entry = try cursor.seek(atOrAfter: prefix)
            while let (k, v) = entry, k.starts(with: prefix) {
                if removed == limit { return try finish(false) }
                if table == tables.prefixKV {
                    // A header (`U`) names its LRU entry; a body (`U|01`) only counts its bytes.
                    let (user, rest) = try Keys.decodeUser(k, table: "prefixkv")
                    if rest == k.count {
                        try txn.delete(tables.prefixLRU, Keys.lru(try PrefixKVHeader(v).tick, user))
                    }
                    kvBytes += v.count
                } else if table == tables.users {
                    let (user, rest) = try Keys.decodeUser(k, table: "users")
                    switch UserRecordTag(rawValue: rest < k.count ? k[rest] : 0xFF) {
                    case .header?:
                        users += 1
                    case .event?:
                        let item = try Keys.decodeItem(k, table: "users(event)")
                        try txn.delete(tables.vectors, Keys.sequence(try RecordCoding.decodeEventIndex(v).sequence))
                        try txn.delete(tables.expiry, Keys.expiry(.event, user, item.modality, item.timestampMs, item.eventID))
                        ctx.counterDeltas[item.modality, default: 0] -= 1
                    case .snapshot?:
                        let m = Int(k[rest + 1])
                        let head = try RecordCoding.decodeSnapshotHead(v)
                        try txn.delete(tables.expiry, Keys.expiry(.snapshot, user, m, head.timestampMs, head.eventID))
                        ctx.counterDeltas[m, default: 0] -= 1
                    case .dedup?, .output?, .digest?:
                        break
                    case nil:
                        throw StoreError.corruptRecord(table: "users", key: hex(k), reason: "unknown record tag")
                    }
                }
                try cursor.deleteCurrent()
                removed += 1
                entry = try cursor.seek(atOrAfter: prefix)
            }
        }
        return try finish(true)
    }
}
