import Foundation

/// Why a `tokenizer.json` could not be loaded.
///
/// Every case names the file (`file`, a path or a caller-given label) and, where it applies, the JSON key
/// path inside it (e.g. `model.merges[12]`), what was expected and what was found. Encoding itself never
/// fails: a loaded tokenizer accepts any `String`.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, unreadable).
    case unreadable(file: String, reason: String)
    /// The file is not valid JSON, or its top level is not an object.
    case malformedJSON(file: String, reason: String)
    /// A required key is absent.
    case missingKey(file: String, key: String)
    /// A key holds a value of the wrong type or an invalid value.
    case invalidValue(file: String, key: String, expected: String, found: String)
    /// The file declares a component (model, normalizer, pre-tokenizer, post-processor) or an option that
    /// this implementation does not support.
    case unsupported(file: String, key: String, found: String)
    /// A BPE merge rule is malformed or refers to tokens missing from the vocabulary.
    case malformedMerge(file: String, index: Int, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read tokenizer file: \(reason)"
        case let .malformedJSON(file, reason):
            return "\(file): malformed JSON: \(reason)"
        case let .missingKey(file, key):
            return "\(file): missing key '\(key)'"
        case let .invalidValue(file, key, expected, found):
            return "\(file): '\(key)': expected \(expected), found \(found)"
        case let .unsupported(file, key, found):
            return "\(file): '\(key)': unsupported \(found)"
        case let .malformedMerge(file, index, reason):
            return "\(file): 'model.merges[\(index)]': \(reason)"
        }
    }
}
