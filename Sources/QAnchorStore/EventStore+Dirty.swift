extension EventStore {
    /// A page of dirty users in key order (partition first), after `after` (exclusive), optionally only
    /// in `partitions`. Each carries the generation needed to mark it clean.
    public func dirtyUsers(after: UserKey? = nil, limit: Int, partitions: Set<Int32>? = nil) throws -> [DirtyUser] {
        try read { txn in
            var result: [DirtyUser] = []
            let cursor = try txn.cursor(tables.dirty)
            var entry = try cursor.seek(atOrAfter: after.flatMap { Keys.successor(of: Keys.user($0)) } ?? [])
            while let (k, _) = entry, result.count < limit {
                let (user, _) = try Keys.decodeUser(k, table: "dirty")
                if let partitions, !partitions.contains(user.partition) {
                    // Jump to the next partition's first key.
                    guard let next = Keys.successor(of: Keys.partition(user.partition)) else { break }
                    entry = try cursor.seek(atOrAfter: next)
                    continue
                }
                guard let raw = try txn.get(tables.users, Keys.header(user)), let d = try UserHeader(decoding: raw).dirtyUser(user) else {
                    throw StoreError.corruptRecord(table: "dirty", key: hex(k), reason: "user \(user) is listed dirty but its header is not")
                }
                result.append(d)
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
            for u in users where try ctx.header(u) != nil { ctx.markDirty(u, mask: modalityMask) }
            return try ctx.finish(nowMs: nowMs)
        }
    }

    /// Records finished refreshes in one transaction: each user's refresh record and published outputs
    /// are written (the outputs replace the user's previous set: scenarios absent from `outputs` are removed), and its dirty mark is removed only if it is still the mark that was read
    /// (`observed.generation`). A user dirtied again meanwhile (ingest or expiry during the refresh)
    /// keeps its mark — with the union of modalities — and is listed in `stillDirty`.
    /// Users the store no longer holds (partition dropped) are skipped.
    ///
    /// `offsets` are written in the same transaction (e.g. the changelog position that covers these refreshes), and
    /// `reserved` versions are recorded (see `reserveVersions`).
    public func commitRefresh(_ refreshes: [CompletedRefresh], reserved: [ReservedVersion] = [],
                              offsets: [SourceOffset] = []) async throws -> RefreshCommitResult {
        for (i, r) in refreshes.enumerated() {
            try Self.validate(r.observed.user, item: "refresh #\(i)")
            for scenario in r.outputs.keys where scenario.isEmpty || scenario.utf8.count > 200 {
                throw StoreError.invalidInput(item: "refresh #\(i) of \(r.observed.user)", reason: "scenario id must be 1…200 bytes")
            }
        }
        let tables = self.tables
        return try await write { txn in
            var result = RefreshCommitResult()
            var ctx = WriteContext(txn: txn, tables: tables)
            for r in refreshes {
                let user = r.observed.user
                guard let header = try ctx.header(user) else { continue }
                let clean = header.dirtyMask != 0 && header.generation == r.observed.generation
                try ctx.update(user) { h in
                    h.refresh = r.record
                    if clean { h.dirtyMask = 0; h.firstDirtyMs = 0 }
                }
                if clean {
                    try txn.delete(tables.dirty, Keys.user(user))
                    result.cleaned += 1
                } else if header.dirtyMask != 0 {
                    result.stillDirty.append(user)
                }
                // The outputs replace the previous ones: a user emptied by expiry (no outputs) or a scenario
                // dropped from the bundle no longer serves stale records.
                let prefix = Keys.user(user) + [UserRecordTag.output.rawValue]
                var stale: [[UInt8]] = []
                try txn.scan(tables.users, prefix: prefix) { k, _ in
                    if r.outputs[String(decoding: k[prefix.count...], as: UTF8.self)] == nil { stale.append(Array(k)) }
                    return true
                }
                for key in stale { _ = try txn.delete(tables.users, key) }
                for (scenario, bytes) in r.outputs {
                    try txn.put(tables.users, Keys.output(user, scenario), bytes)
                }
                try Self.putDigest(r.record.inputDigest, for: user, txn: txn, tables: tables)
            }
            try Self.reserve(reserved, ctx: &ctx, txn: txn, tables: tables)
            try Self.putOffsets(offsets, txn: txn, tables: tables)
            _ = try ctx.finish(nowMs: 0)
            return result
        }
    }

    /// Records that these versions may have been published (their records sent, the refresh not recorded): a
    /// user's version becomes at least the reserved one, so its next refresh publishes a higher one, and its input
    /// digest is forgotten, so that refresh is not skipped as unchanged. Users are created when absent.
    static func reserve(_ reserved: [ReservedVersion], ctx: inout WriteContext, txn: LMDBTransaction, tables: Tables) throws {
        for r in reserved {
            if let local = try ctx.header(r.user)?.refresh, local.version >= r.version { continue }
            try ctx.update(r.user) { h in
                var record = h.refresh ?? RefreshRecord(version: 0, fingerprint: "", refreshedAtMs: 0, newestEventMs: 0)
                record.version = r.version
                h.refresh = record
            }
            try putDigest([], for: r.user, txn: txn, tables: tables)
        }
    }

    /// Removes the dirty marks of users whose mark is still the observed one (same generation), without touching
    /// their refresh records: for users found unchanged since their last refresh. Returns how many were cleaned.
    public func markClean(_ observed: [DirtyUser]) async throws -> Int {
        let tables = self.tables
        return try await write { txn in
            var ctx = WriteContext(txn: txn, tables: tables)
            var cleaned = 0
            for d in observed {
                guard let header = try ctx.header(d.user), header.dirtyMask != 0, header.generation == d.generation else { continue }
                try ctx.update(d.user) { h in h.dirtyMask = 0; h.firstDirtyMs = 0 }
                try txn.delete(tables.dirty, Keys.user(d.user))
                cleaned += 1
            }
            _ = try ctx.finish(nowMs: 0)
            return cleaned
        }
    }

    /// Installs refresh records restored from elsewhere (e.g. a changelog written by the partition's previous
    /// owner), with their outputs, in one transaction: a user's record is replaced only when the restored version is
    /// at least the stored one (a restore never moves a version back); users are created when absent. Dirty marks
    /// are left as they are. `reserved` versions are recorded after them (see `reserve`), `offsets` written, all in the
    /// same transaction. Returns how many records were installed.
    public func restoreRefreshes(_ restored: [RestoredRefresh], reserved: [ReservedVersion] = [],
                                 offsets: [SourceOffset] = []) async throws -> Int {
        for (i, r) in restored.enumerated() { try Self.validate(r.user, item: "restored refresh #\(i)") }
        let tables = self.tables
        return try await write { txn in
            var ctx = WriteContext(txn: txn, tables: tables)
            var installed = 0
            for r in restored {
                if let local = try ctx.header(r.user)?.refresh, local.version > r.record.version { continue }
                try ctx.update(r.user) { h in h.refresh = r.record }
                let prefix = Keys.user(r.user) + [UserRecordTag.output.rawValue]
                var stale: [[UInt8]] = []
                try txn.scan(tables.users, prefix: prefix) { k, _ in stale.append(Array(k)); return true }
                for key in stale { _ = try txn.delete(tables.users, key) }
                for (scenario, bytes) in r.outputs { try txn.put(tables.users, Keys.output(r.user, scenario), bytes) }
                try Self.putDigest(r.record.inputDigest, for: r.user, txn: txn, tables: tables)
                installed += 1
            }
            try Self.reserve(reserved, ctx: &ctx, txn: txn, tables: tables)
            try Self.putOffsets(offsets, txn: txn, tables: tables)
            _ = try ctx.finish(nowMs: 0)
            return installed
        }
    }

    static func putDigest(_ digest: [UInt8], for user: UserKey, txn: LMDBTransaction, tables: Tables) throws {
        if digest.isEmpty { _ = try txn.delete(tables.users, Keys.digest(user)) } else {
            try txn.put(tables.users, Keys.digest(user), digest)
        }
    }

    static func putOffsets(_ offsets: [SourceOffset], txn: LMDBTransaction, tables: Tables) throws {
        for o in offsets {
            var w = ByteWriter(capacity: 8); w.i64(o.nextOffset)
            try txn.put(tables.offsets, Keys.offset(o.partition, o.topic), w.bytes)
        }
    }
}
