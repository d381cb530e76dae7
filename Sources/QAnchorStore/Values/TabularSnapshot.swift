/// A stored tabular snapshot.
public struct TabularSnapshot: Sendable, Equatable {
    /// The event id.
    public var eventID: String
    /// Event time (Unix ms).
    public var timestampMs: Int64
    /// The F features, decoded to Float.
    public var features: [Float]
}
