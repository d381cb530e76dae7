/// Small write-side building blocks shared by ingest, the expiry sweep and partition drops.
/// They run inside a write transaction on the writer thread.
struct WriteContext {
    let txn: LMDBTransaction
    let tables: Tables
    var dirty: [UserKey: UInt64] = [:]
    var counterDeltas: [Int: Int] = [:]

    init(txn: LMDBTransaction, tables: Tables) {
        self.txn = txn
        self.tables = tables
    }

    mutating func markDirty(_ user: UserKey, modality: Int) {
        dirty[user, default: 0] |= (1 << UInt64(modality))
    }

    /// Removes a stored text event and its dedup and expiry entries.
    mutating func removeEvent(_ key: Keys.EventKey, keyBytes: [UInt8]) throws {
        try txn.delete(tables.events, keyBytes)
        try txn.delete(tables.dedup, Keys.dedup(key.user.partition, key.modality, key.eventID))
        try txn.delete(tables.expiry, Keys.expiry(key.timestampMs, keyBytes))
        counterDeltas[key.modality, default: 0] -= 1
    }

    /// Removes a tabular snapshot and its dedup and expiry entries.
    mutating func removeSnapshot(_ user: UserKey, modality: Int, head: RecordCoding.TabularHead) throws {
        try txn.delete(tables.tabular, Keys.userModality(user, modality))
        try txn.delete(tables.dedup, Keys.dedup(user.partition, modality, head.eventID))
        try txn.delete(tables.expiry, Keys.expiry(head.timestampMs, Keys.event(user, modality, head.timestampMs, head.eventID)))
        counterDeltas[modality, default: 0] -= 1
    }

    /// Writes the accumulated dirty marks (OR-ing masks into existing marks, keeping their first-dirty
    /// time, giving each a new generation) and counter deltas. Returns the number of users marked.
    func finish(nowMs: Int64) throws -> Int {
        for (m, delta) in counterDeltas { try Meta.add(txn, tables, Meta.eventCounterName(m), delta) }
        guard !dirty.isEmpty else { return 0 }
        let generation = try Meta.nextGeneration(txn, tables)
        for (user, mask) in dirty {
            let key = Keys.user(user)
            var newMask = mask
            var first = nowMs
            if let old = try txn.get(tables.dirty, key) {
                let d = try RecordCoding.decodeDirty(user, old)
                newMask |= d.modalityMask
                first = d.firstDirtyMs
            }
            try txn.put(tables.dirty, key, RecordCoding.encodeDirty(mask: newMask, firstDirtyMs: first, generation: generation))
        }
        return dirty.count
    }
}
