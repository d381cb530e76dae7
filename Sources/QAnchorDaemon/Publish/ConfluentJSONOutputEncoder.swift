/// The JSON record (`EmbeddingRecord.json`) in Confluent Schema Registry framing (`output.format:
/// json_schema_registry`): magic byte 0, the schema id as a big-endian 32-bit integer (`output.schema_id`: the id of
/// `ops/schema/qanchor-embedding.schema.json` registered under the topic's subject), then the JSON. Consumers that use
/// Confluent's JSON Schema deserializers read it as they read any framed record.
public struct ConfluentJSONOutputEncoder: OutputEncoder {
    public let schemaID: UInt32

    public init(schemaID: UInt32) { self.schemaID = schemaID }

    public var contentType: String { "application/vnd.schemaregistry.v1+json; schema-id=\(schemaID)" }

    public func encode(_ record: EmbeddingRecord) -> [UInt8] {
        let id = schemaID.bigEndian
        return [0] + withUnsafeBytes(of: id) { Array($0) } + Array(record.json.utf8)
    }
}
