import CLMDB

/// A cursor over one database inside one transaction: positioned seeks and ordered iteration.
///
/// Returned key/value buffers point into the memory map and are valid until the transaction ends or
/// the next write. Not `Sendable`; must not outlive its transaction.
final class LMDBCursor {
    typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
    private let pointer: OpaquePointer
    private let database: LMDBDatabase
    private let transaction: LMDBTransaction

    init(pointer: OpaquePointer, database: LMDBDatabase, transaction: LMDBTransaction) {
        self.pointer = pointer
        self.database = database
        self.transaction = transaction
    }

    deinit {
        // LMDB closes a write transaction's cursors when the transaction ends; read cursors are ours.
        if transaction.isReadOnly || !transaction.isFinished { mdb_cursor_close(pointer) }
    }

    private func get(_ op: MDB_cursor_op, key: [UInt8]? = nil) throws(LMDBError) -> Entry? {
        var k = MDB_val()
        var v = MDB_val()
        let rc: Int32
        if let key {
            rc = key.withUnsafeBytes { kb -> Int32 in
                k.mv_size = kb.count
                k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
                return mdb_cursor_get(pointer, &k, &v, op)
            }
        } else {
            rc = mdb_cursor_get(pointer, &k, &v, op)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_cursor_get(\(op.rawValue))", database.name)
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
                UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Moves to the first entry whose key is ≥ `key`.
    func seek(atOrAfter key: [UInt8]) throws(LMDBError) -> Entry? {
        if key.isEmpty { return try first() }
        return try get(MDB_SET_RANGE, key: key)
    }
    /// Moves to the first entry.
    func first() throws(LMDBError) -> Entry? { try get(MDB_FIRST) }
    /// Moves to the last entry.
    func last() throws(LMDBError) -> Entry? { try get(MDB_LAST) }
    /// Moves to the next entry.
    func next() throws(LMDBError) -> Entry? { try get(MDB_NEXT) }
    /// Moves to the previous entry.
    func previous() throws(LMDBError) -> Entry? { try get(MDB_PREV) }
    /// The entry under the cursor.
    func current() throws(LMDBError) -> Entry? { try get(MDB_GET_CURRENT) }

    /// Moves to the last entry whose key starts with `prefix`, or returns nil when there is none.
    func last(withPrefix prefix: [UInt8]) throws(LMDBError) -> Entry? {
        // Seek just past the prefix range, then step back once.
        var upper = prefix
        var carried = true
        for i in stride(from: upper.count - 1, through: 0, by: -1) where carried {
            if upper[i] == 0xFF { upper[i] = 0 } else { upper[i] += 1; carried = false }
        }
        let entry: Entry?
        if carried {
            entry = try last()
        } else if try seek(atOrAfter: upper) != nil {
            entry = try previous()
        } else {
            entry = try last()
        }
        guard let entry, entry.key.starts(with: prefix) else { return nil }
        return entry
    }

    /// Moves to exactly `key` and returns its value, or nil when absent. Like every positioning call,
    /// LMDB skips the descent from the root when `key` falls on the cursor's current leaf page.
    func find(_ key: [UInt8]) throws(LMDBError) -> UnsafeRawBufferPointer? {
        try get(MDB_SET_KEY, key: key)?.value
    }

    /// Stores `value` under `key` through this cursor (write transactions), which then sits on it.
    /// Cheaper than `LMDBTransaction.put` for keys near the cursor's position (same leaf page).
    func put(_ key: [UInt8], _ value: [UInt8]) throws(LMDBError) {
        let rc = key.withUnsafeBytes { kb in
            value.withUnsafeBytes { vb -> Int32 in
                var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
                var v = MDB_val(mv_size: vb.count, mv_data: UnsafeMutableRawPointer(mutating: vb.baseAddress))
                return mdb_cursor_put(pointer, &k, &v, 0)
            }
        }
        try LMDBError.check(rc, "mdb_cursor_put", "\(database.name) key \(hex(key))")
    }

    /// Reserves `size` bytes under `key` and lets `fill` write them in place; with `append`, `key` must
    /// sort after every key of the database (`MDB_APPEND`).
    func put(_ key: [UInt8], reserving size: Int, append: Bool,
             fill: (UnsafeMutableRawBufferPointer) -> Void) throws(LMDBError) {
        var v = MDB_val(mv_size: size, mv_data: nil)
        let flags = UInt32(MDB_RESERVE) | (append ? UInt32(MDB_APPEND) : 0)
        let rc = key.withUnsafeBytes { kb -> Int32 in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            return mdb_cursor_put(pointer, &k, &v, flags)
        }
        try LMDBError.check(rc, "mdb_cursor_put(MDB_RESERVE)", "\(database.name) key \(hex(key))")
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: size))
    }

    /// Deletes the entry under the cursor; the cursor then sits on the following entry
    /// (read it with `current()`).
    func deleteCurrent() throws(LMDBError) {
        try LMDBError.check(mdb_cursor_del(pointer, 0), "mdb_cursor_del", database.name)
    }
}
