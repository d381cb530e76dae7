/// One event to store: a text event's vector `h` or a tabular snapshot's features.
public struct IngestEvent: Sendable {
    /// What the event carries.
    public enum Content: Sendable {
        /// A text event: its encoder vector `h` and the hash of its text (1…64 bytes, the content-cache key).
        case text(vector: [Float], textHash: [UInt8])
        /// A tabular snapshot: its F features.
        case tabular(features: [Float])
    }

    /// Whose event (partition + user id).
    public var user: UserKey
    /// Index into `StoreConfiguration.modalities`.
    public var modality: Int
    /// Unique within the modality (1…200 bytes); the dedup key.
    public var eventID: String
    /// Event time, Unix milliseconds.
    public var timestampMs: Int64
    /// The vector and text hash, or the tabular features.
    public var content: Content

    /// Creates an event.
    public init(user: UserKey, modality: Int, eventID: String, timestampMs: Int64, content: Content) {
        self.user = user
        self.modality = modality
        self.eventID = eventID
        self.timestampMs = timestampMs
        self.content = content
    }
}

/// A consumer position: the next offset to read from (topic, partition).
public struct SourceOffset: Sendable, Hashable, Codable {
    /// The source topic.
    public var topic: String
    /// The source partition.
    public var partition: Int32
    /// The offset of the next record to consume (Kafka's committed-offset convention).
    public var nextOffset: Int64

    /// Creates a position.
    public init(topic: String, partition: Int32, nextOffset: Int64) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
    }
}

/// A content-cache entry: the vector `h` computed for a text, keyed by (modality, text hash).
public struct ContentCacheEntry: Sendable {
    /// Index into `StoreConfiguration.modalities` (a text modality).
    public var modality: Int
    /// Hash of the text (1…64 bytes).
    public var textHash: [UInt8]
    /// The vector `h` computed for it.
    public var vector: [Float]

    /// Creates a cache entry.
    public init(modality: Int, textHash: [UInt8], vector: [Float]) {
        self.modality = modality
        self.textHash = textHash
        self.vector = vector
    }
}

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

/// What an ingest did.
public struct IngestResult: Sendable, Equatable {
    /// Events newly stored (and still present after pruning).
    public var stored = 0
    /// Events already present (same modality and event id): ignored.
    public var duplicates = 0
    /// Events older than the window: ignored.
    public var outsideWindow = 0
    /// Events that were not kept because K_m newer ones exist, or older tabular snapshots.
    public var superseded = 0
    /// Previously stored events removed by the cap or the window.
    public var pruned = 0
    /// Users marked dirty by this batch.
    public var dirtiedUsers = 0

    /// All counts zero.
    public init() {}
}
