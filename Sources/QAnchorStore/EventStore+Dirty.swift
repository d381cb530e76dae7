extension EventStore {
    /// A page of dirty users in key order (partition first), after `after` (exclusive), optionally only
    /// in `partitions`. Each carries the generation needed to mark it clean.
    public func dirtyUsers(after: UserKey? = nil, limit: Int, partitions: Set<Int32>? = nil) throws -> [DirtyUser] {
        try read { txn in
            var result: [DirtyUser] = []
            let cursor = try txn.cursor(tables.dirty)
            var entry = try cursor.seek(atOrAfter: after.map { Keys.user($0) + [0] } ?? [])
            while let (k, v) = entry, result.count < limit {
                let (user, _) = try Keys.decodeUser(k, table: "dirty")
                if let partitions, !partitions.contains(user.partition) {
                    // Jump to the next partition's first key.
                    guard let next = Keys.successor(of: Keys.partition(user.partition)) else { break }
                    entry = try cursor.seek(atOrAfter: next)
                    continue
                }
                result.append(try RecordCoding.decodeDirty(user, v))
                entry = try cursor.next()
            }
            return result
        }
    }

    /// Marks `users` dirty for the modalities in `modalityMask` (e.g. all users after a fingerprint change).
    /// Users the store does not know are skipped. Returns the number marked.
    public func markDirty(_ users: [UserKey], modalityMask: UInt64, nowMs: Int64) async throws -> Int {
        let tables = self.tables
        return try await write { txn in
            var ctx = WriteContext(txn: txn, tables: tables)
            for u in users where try txn.get(tables.users, Keys.user(u)) != nil {
                ctx.dirty[u, default: 0] |= modalityMask
            }
            return try ctx.finish(nowMs: nowMs)
        }
    }

    /// Records finished refreshes in one transaction: each user's refresh record and published outputs
    /// are written, and its dirty mark is removed only if it is still the mark that was read
    /// (`observed.generation`). A user dirtied again meanwhile (ingest or expiry during the refresh)
    /// keeps its mark — with the union of modalities — and is listed in `stillDirty`.
    public func commitRefresh(_ refreshes: [CompletedRefresh]) async throws -> RefreshCommitResult {
        for (i, r) in refreshes.enumerated() {
            try Self.validate(r.observed.user, item: "refresh #\(i)")
            for scenario in r.outputs.keys where scenario.isEmpty || scenario.utf8.count > 200 {
                throw StoreError.invalidInput(item: "refresh #\(i) of \(r.observed.user)", reason: "scenario id must be 1…200 bytes")
            }
        }
        let tables = self.tables
        return try await write { txn in
            var result = RefreshCommitResult()
            for r in refreshes {
                let key = Keys.user(r.observed.user)
                try txn.put(tables.users, key, RecordCoding.encodeRefresh(r.record))
                for (scenario, bytes) in r.outputs {
                    try txn.put(tables.outputs, Keys.output(r.observed.user, scenario), bytes)
                }
                if let v = try txn.get(tables.dirty, key) {
                    let current = try RecordCoding.decodeDirty(r.observed.user, v)
                    if current.generation == r.observed.generation {
                        try txn.delete(tables.dirty, key)
                        result.cleaned += 1
                    } else {
                        result.stillDirty.append(r.observed.user)
                    }
                }
            }
            return result
        }
    }
}
