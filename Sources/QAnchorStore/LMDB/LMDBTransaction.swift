import CLMDB

/// One LMDB transaction (read-only or read-write).
///
/// Threading: with `MDB_NOTLS` a read transaction may be used from any thread, but from one at a time;
/// a write transaction lives only on the environment's writer thread. The type is deliberately not
/// `Sendable`: it is handed to a closure and must not escape it.
///
/// Buffers returned by `get` and by cursors point into the memory map: they are valid until the
/// transaction ends or (for write transactions) until the next write to the same database.
final class LMDBTransaction {
    let pointer: OpaquePointer
    let isReadOnly: Bool
    private(set) var isFinished = false

    init(pointer: OpaquePointer, isReadOnly: Bool) {
        self.pointer = pointer
        self.isReadOnly = isReadOnly
    }

    deinit {
        if !isFinished { mdb_txn_abort(pointer) }
    }

    /// Commits the transaction. After this call the object must not be used.
    func commit() throws(LMDBError) {
        precondition(!isFinished, "transaction already finished")
        isFinished = true
        try LMDBError.check(mdb_txn_commit(pointer), "mdb_txn_commit")
    }

    /// Aborts the transaction; a no-op when already finished.
    func abort() {
        if !isFinished {
            isFinished = true
            mdb_txn_abort(pointer)
        }
    }

    /// The value stored under `key`, or nil.
    func get(_ db: LMDBDatabase, _ key: [UInt8]) throws(LMDBError) -> UnsafeRawBufferPointer? {
        var k = MDB_val()
        var v = MDB_val()
        let rc = key.withUnsafeBytes { kb -> Int32 in
            k.mv_size = kb.count
            k.mv_data = UnsafeMutableRawPointer(mutating: kb.baseAddress)
            return mdb_get(pointer, db.dbi, &k, &v)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get", "\(db.name) key \(hex(key))")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// Stores `value` under `key`, replacing any previous value.
    func put(_ db: LMDBDatabase, _ key: [UInt8], _ value: [UInt8]) throws(LMDBError) {
        let rc = key.withUnsafeBytes { kb in
            value.withUnsafeBytes { vb -> Int32 in
                var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
                var v = MDB_val(mv_size: vb.count, mv_data: UnsafeMutableRawPointer(mutating: vb.baseAddress))
                return mdb_put(pointer, db.dbi, &k, &v, 0)
            }
        }
        try LMDBError.check(rc, "mdb_put", "\(db.name) key \(hex(key))")
    }

    /// Reserves `size` bytes under `key` and lets `fill` write them in place (no intermediate copy).
    /// With `append`, `key` must sort after every key of `db` (`MDB_APPEND`: pages fill completely).
    func put(_ db: LMDBDatabase, _ key: [UInt8], reserving size: Int, append: Bool = false,
             fill: (UnsafeMutableRawBufferPointer) -> Void) throws(LMDBError) {
        var v = MDB_val(mv_size: size, mv_data: nil)
        let flags = UInt32(MDB_RESERVE) | (append ? UInt32(MDB_APPEND) : 0)
        let rc = key.withUnsafeBytes { kb -> Int32 in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            return mdb_put(pointer, db.dbi, &k, &v, flags)
        }
        try LMDBError.check(rc, "mdb_put(MDB_RESERVE)", "\(db.name) key \(hex(key))")
        fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: size))
    }

    /// Deletes `key`; returns false when it was absent.
    @discardableResult
    func delete(_ db: LMDBDatabase, _ key: [UInt8]) throws(LMDBError) -> Bool {
        let rc = key.withUnsafeBytes { kb -> Int32 in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            return mdb_del(pointer, db.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try LMDBError.check(rc, "mdb_del", "\(db.name) key \(hex(key))")
        return true
    }

    /// Deletes every entry of `db` (`mdb_drop` without deleting the database itself).
    func empty(_ db: LMDBDatabase) throws(LMDBError) {
        try LMDBError.check(mdb_drop(pointer, db.dbi, 0), "mdb_drop", db.name)
    }

    /// LMDB's statistics for one database (entry count, depth, pages).
    func stat(_ db: LMDBDatabase) throws(LMDBError) -> MDB_stat {
        var s = MDB_stat()
        try LMDBError.check(mdb_stat(pointer, db.dbi, &s), "mdb_stat", db.name)
        return s
    }

    /// Opens a cursor on `db`; it is closed when released and must not outlive the transaction.
    func cursor(_ db: LMDBDatabase) throws(LMDBError) -> LMDBCursor {
        var c: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(pointer, db.dbi, &c), "mdb_cursor_open", db.name)
        return LMDBCursor(pointer: c!, database: db, transaction: self)
    }

    /// Calls `body` for every entry whose key starts with `prefix`, in key order, until it returns false.
    func scan(_ db: LMDBDatabase, prefix: [UInt8],
              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        let cursor = try cursor(db)
        var entry = try cursor.seek(atOrAfter: prefix)
        while let (k, v) = entry, k.starts(with: prefix) {
            if try !body(k, v) { return }
            entry = try cursor.next()
        }
    }

    /// Number of entries whose key starts with `prefix`.
    func count(_ db: LMDBDatabase, prefix: [UInt8]) throws -> Int {
        var n = 0
        try scan(db, prefix: prefix) { _, _ in n += 1; return true }
        return n
    }
}

/// Lower-case hex of a key, shortened for messages.
func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    let digits = Array("0123456789abcdef")
    var s = ""
    for (i, b) in bytes.enumerated() {
        if i == 64 { s += "…"; break }
        s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)])
    }
    return s
}
