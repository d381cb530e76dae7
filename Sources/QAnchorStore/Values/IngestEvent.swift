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
