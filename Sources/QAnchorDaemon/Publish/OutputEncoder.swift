/// How embedding records are serialised for the scenario topics (`output.format`). One conforming type per format;
/// adding a format is a new file with a conforming type and one entry in `OutputFormats.all`.
///
/// Threading: encoders are immutable values, used from any task.
public protocol OutputEncoder: Sendable {
    /// The `content-type` header of every record.
    var contentType: String { get }
    /// The record's value bytes.
    func encode(_ record: EmbeddingRecord) -> [UInt8]
}

/// The record as one line of JSON (`EmbeddingRecord.json`): the default, and the form the store keeps for lookups.
public struct JSONOutputEncoder: OutputEncoder {
    public init() {}
    public var contentType: String { "application/json" }
    public func encode(_ record: EmbeddingRecord) -> [UInt8] { Array(record.json.utf8) }
}

/// `qanchor.v1.Embedding` (ops/proto/qanchor.proto), see `EmbeddingRecord.protobuf`.
public struct ProtobufOutputEncoder: OutputEncoder {
    public init() {}
    public var contentType: String { EmbeddingRecord.protobufContentType }
    public func encode(_ record: EmbeddingRecord) -> [UInt8] { record.protobuf }
}

/// The output formats by configuration name.
public enum OutputFormats {
    public static let all: [String: any OutputEncoder] = [
        "json": JSONOutputEncoder(),
        "protobuf": ProtobufOutputEncoder(),
    ]
}
