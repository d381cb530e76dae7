import CLMDB

/// An error returned by the LMDB C library, with the operation and the object it concerned.
///
/// `code` is LMDB's (or errno's) return code; `operation` names the call (`mdb_put`, `mdb_env_open`, …) and
/// `context` says what it was applied to (a path, a database name, a key in hex).
public struct LMDBError: Error, CustomStringConvertible, Sendable {
    /// The raw return code (an `MDB_*` error or an errno value).
    public let code: Int32
    /// The LMDB function that failed.
    public let operation: String
    /// What the call was applied to.
    public let context: String

    /// LMDB's own message for `code`.
    public var message: String { String(cString: mdb_strerror(code)) }

    /// True when the map is full and a larger map would let the transaction succeed.
    public var isMapFull: Bool { code == MDB_MAP_FULL }
    /// True when another process grew the map and this one must adopt the new size.
    public var isMapResized: Bool { code == MDB_MAP_RESIZED }

    public var description: String { "\(operation) failed (\(context)): \(message) [code \(code)]" }

    /// Throws an `LMDBError` unless `code` is `MDB_SUCCESS`.
    @inline(__always)
    static func check(_ code: Int32, _ operation: @autoclosure () -> String,
                      _ context: @autoclosure () -> String = "") throws(LMDBError) {
        if code != MDB_SUCCESS { throw LMDBError(code: code, operation: operation(), context: context()) }
    }
}
