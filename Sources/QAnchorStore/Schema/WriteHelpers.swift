/// Write-side bookkeeping shared by ingest, the expiry sweep, refreshes and partition drops. It caches
/// the user headers a transaction touches, accumulates dirty bits and counter deltas, and writes them
/// once in `finish`. Lives inside one write transaction on the writer thread.
struct WriteContext {
    let txn: LMDBTransaction
    let tables: Tables
    private var headers: [UserKey: UserHeader] = [:]
    private var changed: Set<UserKey> = []
    private(set) var dirtyBits: [UserKey: UInt64] = [:]
    var counterDeltas: [Int: Int] = [:]
    private var newUsers = 0
    private var sequence: UInt64?
    /// A cursor on `users` for header reads and writes (ingest passes the one it positions per user,
    /// so the header — on the user's leaf page — is found without a descent from the root).
    private let users: LMDBCursor?

    init(txn: LMDBTransaction, tables: Tables, usersCursor: LMDBCursor? = nil) {
        self.txn = txn
        self.tables = tables
        self.users = usersCursor
    }

    /// The header of `user`, or nil when the store does not know the user.
    /// Text events removed by this write (reported to the caller).
    var removedEvents: [RemovedEvent] = []

    mutating func header(_ user: UserKey) throws -> UserHeader? {
        if let h = headers[user] { return h }
        let key = Keys.header(user)
        guard let v = try users.map({ try $0.find(key) }) ?? txn.get(tables.users, key) else { return nil }
        let h = try UserHeader(decoding: v)
        headers[user] = h
        return h
    }

    /// Creates the user's header when absent.
    mutating func ensureUser(_ user: UserKey) throws {
        if try header(user) == nil {
            headers[user] = UserHeader()
            changed.insert(user)
            newUsers += 1
        }
    }

    mutating func update(_ user: UserKey, _ body: (inout UserHeader) -> Void) throws {
        try ensureUser(user)
        if var h = headers[user] {
            body(&h)
            headers[user] = h
        }
        changed.insert(user)
    }

    mutating func markDirty(_ user: UserKey, mask: UInt64) {
        dirtyBits[user, default: 0] |= mask
    }

    mutating func markDirty(_ user: UserKey, modality: Int) { markDirty(user, mask: 1 << UInt64(modality)) }

    /// The next vector sequence number (strictly increasing: vectors are appended).
    mutating func nextVectorSequence() throws -> UInt64 {
        let s = try (sequence ?? Meta.u64(txn, tables, "vector_seq") ?? 0) + 1
        sequence = s
        return s
    }

    /// Removes an indexed text event: its index entry, dedup entry, vector and expiry entry.
    mutating func removeEvent(_ item: Keys.ItemKey, indexKey: [UInt8], sequence: UInt64) throws {
        try txn.delete(tables.users, indexKey)
        try txn.delete(tables.users, Keys.dedup(item.user, item.modality, item.eventID))
        try txn.delete(tables.vectors, Keys.sequence(sequence))
        try txn.delete(tables.expiry, Keys.expiry(.event, item.user, item.modality, item.timestampMs, item.eventID))
        counterDeltas[item.modality, default: 0] -= 1
        removedEvents.append(RemovedEvent(user: item.user, modality: item.modality, eventID: item.eventID))
    }

    /// Removes a tabular snapshot and its dedup and expiry entries.
    mutating func removeSnapshot(_ user: UserKey, modality: Int, head: RecordCoding.SnapshotHead) throws {
        try txn.delete(tables.users, Keys.snapshot(user, modality))
        try txn.delete(tables.users, Keys.dedup(user, modality, head.eventID))
        try txn.delete(tables.expiry, Keys.expiry(.snapshot, user, modality, head.timestampMs, head.eventID))
        counterDeltas[modality, default: 0] -= 1
    }

    /// Writes what was accumulated: dirty bits OR-ed into headers (first-dirty time kept, a new
    /// generation for every user dirtied here), the dirty index, changed headers, counters and the
    /// vector sequence. Returns the number of users marked dirty.
    mutating func finish(nowMs: Int64) throws -> Int {
        if !dirtyBits.isEmpty {
            let generation = try Meta.nextGeneration(txn, tables)
            for (user, mask) in dirtyBits {
                let wasClean = (try header(user)?.dirtyMask ?? 0) == 0
                try update(user) { h in
                    if h.dirtyMask == 0 { h.firstDirtyMs = nowMs }
                    h.dirtyMask |= mask
                    h.generation = generation
                }
                if wasClean { try txn.put(tables.dirty, Keys.user(user), []) }
            }
        }
        for user in changed {
            guard let header = headers[user] else { continue }
            if let users { try users.put(Keys.header(user), header.encoded()) }
            else { try txn.put(tables.users, Keys.header(user), header.encoded()) }
        }
        for (m, delta) in counterDeltas { try Meta.add(txn, tables, Meta.eventCounterName(m), delta) }
        try Meta.add(txn, tables, "count/users", newUsers)
        if let sequence { try Meta.putU64(txn, tables, "vector_seq", sequence) }
        return dirtyBits.count
    }
}
