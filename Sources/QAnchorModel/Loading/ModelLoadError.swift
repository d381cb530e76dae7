/// Why a model directory (config.json + model.safetensors) could not be loaded. Every case names the file and the
/// key or tensor at fault, with what was expected and what was found (llama.cpp style).
public enum ModelLoadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// config.json is unreadable, not JSON, or a key is missing / of the wrong type / out of range.
    case badConfig(file: String, key: String, detail: String)
    /// A tensor the architecture needs is not in the weights file.
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    /// A tensor has the wrong shape.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// The weights file holds tensors the architecture does not use (e.g. more layers than the config declares).
    case unexpectedTensors(file: String, tensors: [String])
    /// The weights file itself is malformed.
    case weights(SafeTensorsError)
    /// The requested ``ComputePrecision`` cannot run on this machine (e.g. bf16 without AVX512_BF16).
    case unsupportedPrecision(String, reason: String)

    public var description: String {
        switch self {
        case let .badConfig(file, key, detail): "\(file): config key '\(key)': \(detail)"
        case let .missingTensor(file, tensor, shape): "\(file): missing tensor '\(tensor)' (expected shape \(shape))"
        case let .shapeMismatch(file, tensor, expected, found):
            "\(file): tensor '\(tensor)' has wrong shape; expected \(expected), got \(found)"
        case let .unexpectedTensors(file, tensors):
            "\(file): \(tensors.count) unexpected tensor(s): \(tensors.prefix(8).joined(separator: ", "))\(tensors.count > 8 ? ", …" : "")"
        case let .weights(error): error.description
        case let .unsupportedPrecision(precision, reason): "compute precision '\(precision)' is not supported: \(reason)"
        }
    }
}
