/// The outcome of one expiry sweep step.
public struct ExpirySweepResult: Sendable, Equatable {
    /// Text events removed.
    public var removedEvents = 0
    /// Tabular snapshots removed.
    public var removedSnapshots = 0
    /// Users marked dirty by the removals.
    public var dirtiedUsers = 0
    /// True when expired entries remain: call again.
    public var hasMore = false
    /// The text events removed.
    public var removed: [RemovedEvent] = []
}
