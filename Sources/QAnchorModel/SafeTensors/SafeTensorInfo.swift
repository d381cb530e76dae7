/// One tensor's entry in a safetensors header, already validated against the file.
///
/// Invariants: `byteRange` lies inside the file's data section and `byteRange.count == shape product × dtype size`.
public struct SafeTensorInfo: Sendable, Equatable {
    /// The tensor's name (e.g. `model.layers.0.self_attn.q_proj.weight`).
    public let name: String
    /// Element type as stored.
    public let dtype: SafeTensorDType
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Byte range relative to the start of the data section (after the 8-byte prefix and the header).
    public let byteRange: Range<Int>

    /// Number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
}
