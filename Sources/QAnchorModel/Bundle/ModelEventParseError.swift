/// Why an input line is not a valid model event. `field` is the JSON key at fault (`modality`, `event_id`,
/// `user_id`, `ts`, `text`, `features`), or nil when the line is not a JSON object at all. A value type.
public struct ModelEventParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String?
    public let reason: String

    public init(field: String?, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { field.map { "'\($0)': \(reason)" } ?? reason }
}
