/// What one ingest applies, atomically, in one transaction: events, the consumer offsets that cover
/// them, and new content-cache entries.
public struct IngestBatch: Sendable {
    /// The events, in any order.
    public var events: [IngestEvent]
    /// Positions reached by this batch; stored in the same transaction as the events.
    public var offsets: [SourceOffset]
    /// Vectors freshly computed for new texts.
    public var cacheEntries: [ContentCacheEntry]
    /// "Now" for the window (Unix ms): events older than `now − window` are skipped and pruned.
    public var nowMs: Int64

    /// Creates a batch.
    public init(events: [IngestEvent], offsets: [SourceOffset] = [], cacheEntries: [ContentCacheEntry] = [],
                nowMs: Int64) {
        self.events = events
        self.offsets = offsets
        self.cacheEntries = cacheEntries
        self.nowMs = nowMs
    }
}
