/// One stored text event.
public struct StoredEvent: Sendable, Equatable {
    /// The event id.
    public var eventID: String
    /// Event time (Unix ms).
    public var timestampMs: Int64
    /// Hash of the event text, as ingested.
    public var textHash: [UInt8]
    /// `h`, decoded to Float (fp16-stored vectors come back rounded).
    public var vector: [Float]
}
