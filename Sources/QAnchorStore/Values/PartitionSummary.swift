/// Counts for one partition.
public struct PartitionSummary: Sendable, Codable, Equatable {
    /// The partition.
    public var partition: Int32
    /// Users with a record in the store.
    public var users: Int
    /// Stored text events.
    public var events: Int
    /// Stored tabular snapshots.
    public var snapshots: Int
    /// Users waiting for a refresh.
    public var dirtyUsers: Int
    /// Stored consumer offsets.
    public var offsets: [SourceOffset]
}
