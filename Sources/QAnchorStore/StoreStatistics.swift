/// Whole-store figures for `qanchor inspect` and metrics.
public struct StoreStatistics: Sendable, Codable {
    public var schemaVersion: UInt32
    public var directory: String
    public var users: Int
    /// modality name → stored events (text) or snapshots (tabular).
    public var eventsByModality: [String: Int]
    public var dirtyUsers: Int
    public var contentCacheEntries: Int
    public var contentCacheBytes: Int
    public var prefixKVEntries: Int
    public var prefixKVBytes: Int
    public var offsets: [SourceOffset]
    public var mapSizeBytes: Int
    public var mapUsedBytes: Int
    public var pageSize: Int
    public var lastTransactionID: Int
    public var readersInUse: Int
    public var maxReaders: Int
}

/// Counts for one partition.
public struct PartitionSummary: Sendable, Codable, Equatable {
    public var partition: Int32
    public var users: Int
    public var events: Int
    public var snapshots: Int
    public var dirtyUsers: Int
    public var offsets: [SourceOffset]
}

/// The outcome of one expiry sweep step.
public struct ExpirySweepResult: Sendable, Equatable {
    public var removedEvents = 0
    public var removedSnapshots = 0
    public var dirtiedUsers = 0
    /// True when expired entries remain: call again.
    public var hasMore = false
}
