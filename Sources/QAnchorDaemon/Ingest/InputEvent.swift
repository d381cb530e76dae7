import QAnchorModel

/// One valid behaviour event, parsed from an input topic (docs/daemon.md "Input records").
///
/// Invariants: `eventID` and `userID` are non-empty; `timestampMs` was inside the window when parsed;
/// `payload` matches the modality's kind (text for sequence modalities, `featureCount` finite numbers for tabular).
public struct InputEvent: Sendable, Hashable {
    /// The same payload as the model side's events.
    public typealias Payload = ModelEvent.Payload

    /// Index of the modality in the daemon's modality list.
    public var modality: Int
    public var eventID: String
    public var userID: String
    /// Event time, milliseconds since the epoch.
    public var timestampMs: Int64
    public var payload: Payload

    public init(modality: Int, eventID: String, userID: String, timestampMs: Int64, payload: Payload) {
        self.modality = modality
        self.eventID = eventID
        self.userID = userID
        self.timestampMs = timestampMs
        self.payload = payload
    }
}

/// Why an input record was rejected. `code` is stable (metrics label, dead-letter header); `detail` explains
/// it without quoting the record's text (which may be personal data).
public struct EventRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case unknownTopic = "unknown_topic"
        case emptyValue = "empty_value"
        case invalidUTF8 = "invalid_utf8"
        case malformedJSON = "malformed_json"
        case notAnObject = "not_an_object"
        case missingField = "missing_field"
        case wrongType = "wrong_type"
        case fieldTooLong = "field_too_long"
        case keyMismatch = "key_mismatch"
        case tooOld = "too_old"
        case inFuture = "in_future"
        case textTooLong = "text_too_long"
        case featureCount = "feature_count"
        case nonFiniteFeature = "non_finite_feature"
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}
