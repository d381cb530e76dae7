/// Whole-store figures for `qanchor inspect` and metrics.
public struct StoreStatistics: Sendable, Codable {
    /// The schema version of the store.
    public var schemaVersion: UInt32
    /// The environment directory.
    public var directory: String
    /// Users with a record in the store.
    public var users: Int
    /// modality name → stored events (text) or snapshots (tabular).
    public var eventsByModality: [String: Int]
    /// Users waiting for a refresh.
    public var dirtyUsers: Int
    /// Entries of the content cache.
    public var contentCacheEntries: Int
    /// Key and value bytes of the content cache.
    public var contentCacheBytes: Int
    /// Stored prefix KV states.
    public var prefixKVEntries: Int
    /// Bytes of the stored prefix KV states (counted against the budget).
    public var prefixKVBytes: Int
    /// Stored consumer offsets.
    public var offsets: [SourceOffset]
    /// The current LMDB map size.
    public var mapSizeBytes: Int
    /// Bytes of the map in use (last page used × page size).
    public var mapUsedBytes: Int
    /// LMDB page size.
    public var pageSize: Int
    /// ID of the last committed transaction.
    public var lastTransactionID: Int
    /// Reader slots in use (all processes).
    public var readersInUse: Int
    /// Reader slots available.
    public var maxReaders: Int
}
