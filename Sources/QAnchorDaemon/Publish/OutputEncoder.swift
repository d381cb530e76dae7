/// How embedding records are serialised for the scenario topics (`output.format`). One conforming type per format;
/// adding a format is a new file with a conforming type and one case in `OutputFormat` and in `OutputFormats.encoder`.
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

/// The output formats by configuration name (`output.format`).
public enum OutputFormats {
    /// The encoder `output` configures.
    public static func encoder(_ output: DaemonConfiguration.Output) -> any OutputEncoder {
        switch output.format {
        case .json: return JSONOutputEncoder()
        case .protobuf: return ProtobufOutputEncoder()
        case .jsonSchemaRegistry: return ConfluentJSONOutputEncoder(schemaID: UInt32(clamping: output.schemaID))
        }
    }
}
