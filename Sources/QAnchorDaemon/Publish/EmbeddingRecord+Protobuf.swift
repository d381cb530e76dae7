/// Protocol-buffer encoding of `EmbeddingRecord` as `qanchor.v1.Embedding` (ops/proto/qanchor.proto), written by
/// hand (no code generator): varints, length-delimited fields, packed little-endian floats. Fields are written in
/// field-number order; proto3 defaults (empty string, 0) are omitted, except `event_time` (explicit presence).
extension EmbeddingRecord {
    public static let protobufContentType = "application/x-protobuf; messageType=qanchor.v1.Embedding"

    public var protobuf: [UInt8] {
        var out = ProtobufWriter()
        out.string(1, userID)
        out.string(2, scenario)
        out.uint64(3, UInt64(embedding.count))
        out.packedFloats(4, embedding)
        for score in scores ?? [] {
            var nested = ProtobufWriter()
            nested.string(1, score.label)
            nested.float(2, score.score)
            out.bytes(5, nested.bytes)
        }
        var model = ProtobufWriter()
        model.string(1, modelName)
        model.string(2, modelVersion)
        model.string(3, fingerprint)
        out.bytes(6, model.bytes)
        out.uint64(7, version)
        if let eventTimeMs { out.int64(8, eventTimeMs, always: true) }
        out.int64(9, windowStartMs)
        if let computedAtMs { out.int64(10, computedAtMs) }
        return out.bytes
    }
}

/// Appends protobuf wire-format fields.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

    mutating func uint64(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(value)
    }

    /// int64 as a two's-complement varint (proto `int64`).
    mutating func int64(_ field: Int, _ value: Int64, always: Bool = false) {
        guard value != 0 || always else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func float(_ field: Int, _ value: Float) {
        guard value != 0 else { return }
        tag(field, 5)
        appendFloat(value)
    }

    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        bytes(field, Array(value.utf8))
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        guard !values.isEmpty else { return }
        tag(field, 2)
        varint(UInt64(values.count * 4))
        for v in values { appendFloat(v) }
    }

    private mutating func appendFloat(_ value: Float) {
        let bits = value.bitPattern
        bytes += [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24)]
    }
}
