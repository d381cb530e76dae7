/// Errors of the qanchor store, each naming what was wrong and where.
public enum StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory or its `data.mdb` is not a qanchor store (foreign or corrupt file).
    case notAStore(path: String, reason: String)
    /// The store was written by a newer qanchor (schema `found` > `supported`).
    case schemaTooNew(path: String, found: UInt32, supported: UInt32)
    /// The configured modalities disagree with the ones the store was created with.
    case modalityMismatch(path: String, index: Int, stored: String, configured: String)
    /// The configuration is unusable.
    case invalidConfiguration(String)
    /// An input value is invalid; `item` says which one (e.g. "event 12 (b-9f1c)").
    case invalidInput(item: String, reason: String)
    /// A stored record cannot be decoded.
    case corruptRecord(table: String, key: String, reason: String)
    /// The map reached `maximumMapSize` and cannot grow.
    case mapSizeLimit(path: String, mapSize: Int, limit: Int)
    /// A file system operation failed.
    case io(path: String, operation: String, reason: String)
    /// A journal segment is damaged before its end, or one of its records cannot be replayed.
    case corruptJournal(path: String, offset: Int, reason: String)
    /// The store is in use by another qanchor process (its `StoreLock` is held; `holder`: that process's pid).
    case locked(path: String, holder: Int32?)
    /// The store was closed.
    case closed

    /// A one-line description naming what and where.
    public var description: String {
        switch self {
        case let .notAStore(path, reason): "\(path) is not a qanchor store: \(reason)"
        case let .schemaTooNew(path, found, supported):
            "\(path) has store schema version \(found), this qanchor supports up to \(supported): upgrade qanchor"
        case let .modalityMismatch(path, index, stored, configured):
            "\(path): modality #\(index) is '\(stored)' in the store but '\(configured)' in the configuration"
        case let .invalidConfiguration(reason): "invalid store configuration: \(reason)"
        case let .invalidInput(item, reason): "invalid \(item): \(reason)"
        case let .corruptRecord(table, key, reason): "corrupt record in '\(table)' at key \(key): \(reason)"
        case let .mapSizeLimit(path, mapSize, limit):
            "\(path): LMDB map is full at \(mapSize) bytes and may not grow beyond \(limit) (maximumMapSize)"
        case let .io(path, operation, reason): "\(operation) \(path): \(reason)"
        case let .corruptJournal(path, offset, reason): "corrupt journal \(path) at offset \(offset): \(reason)"
        case let .locked(path, holder):
            "the store \(path) is in use by another qanchor process\(holder.map { " (pid \($0))" } ?? "") — qanchor.lock is held"
        case .closed: "the store is closed"
        }
    }
}
