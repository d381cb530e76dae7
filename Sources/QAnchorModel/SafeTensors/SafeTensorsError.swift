/// Why a safetensors file could not be read. Every case names the file, and the tensor when one is at fault.
public enum SafeTensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(file: String, reason: String)
    /// The file is shorter than its 8-byte length prefix, header or data require.
    case truncated(file: String, detail: String)
    /// The JSON header is malformed (not JSON, not an object, a field of the wrong type).
    case badHeader(file: String, detail: String)
    /// One tensor's entry is inconsistent (offsets out of bounds or overlapping, byte length ≠ dtype × shape).
    case badTensor(file: String, tensor: String, detail: String)
    /// The tensor is not in the file.
    case missingTensor(file: String, tensor: String)
    /// The tensor's dtype cannot be converted to fp32 (only F32, F16 and BF16 can).
    case unsupportedDType(file: String, tensor: String, dtype: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason): "\(file): cannot open: \(reason)"
        case let .truncated(file, detail): "\(file): truncated: \(detail)"
        case let .badHeader(file, detail): "\(file): bad header: \(detail)"
        case let .badTensor(file, tensor, detail): "\(file): tensor '\(tensor)': \(detail)"
        case let .missingTensor(file, tensor): "\(file): tensor '\(tensor)' not found"
        case let .unsupportedDType(file, tensor, dtype):
            "\(file): tensor '\(tensor)' has dtype \(dtype); only F32, F16 and BF16 can be converted to fp32"
        }
    }
}
