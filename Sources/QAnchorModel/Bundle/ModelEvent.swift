/// One input event of the model side, parsed from a JSON line (docs/daemon.md "Input records", plus `"modality"`).
///
/// `timestampMs` is epoch milliseconds (UTC). A text event carries its text, a tabular event its F features
/// (converted to fp32, as the model computes). `line` is the 1-based source line when the event came from a
/// file, for messages. A value type: safe to share between threads.
public struct ModelEvent: Sendable, Equatable {
    /// What the event carries.
    public enum Payload: Sendable, Hashable {
        case text(String)
        case features([Float])
    }

    public var modality: String
    public var eventID: String
    public var userID: String
    public var timestampMs: Int64
    public var payload: Payload
    public var line: Int?

    public init(modality: String, eventID: String, userID: String, timestampMs: Int64, payload: Payload,
                line: Int? = nil) {
        self.modality = modality
        self.eventID = eventID
        self.userID = userID
        self.timestampMs = timestampMs
        self.payload = payload
        self.line = line
    }

    /// The order "newer than": by timestamp, then by event id compared as UTF-8 bytes (a total order, so the
    /// selection never depends on arrival order).
    public func precedes(_ other: ModelEvent) -> Bool {
        if timestampMs != other.timestampMs { return timestampMs < other.timestampMs }
        return eventID.utf8.lexicographicallyPrecedes(other.eventID.utf8)
    }
}
