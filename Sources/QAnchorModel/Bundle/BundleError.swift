/// Why a model bundle (docs/bundle.md) could not be read or does not satisfy format v1.
///
/// Every case names the file (a path relative to the bundle, or as given) and, where it applies, the field
/// path inside the manifest (e.g. `modalities[2].max_events`), what was expected and what was found.
public enum BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A file of the bundle is missing or cannot be read.
    case unreadable(file: String, reason: String)
    /// The manifest is not valid JSON, or a field has the wrong JSON type or is absent.
    case malformedManifest(file: String, field: String, reason: String)
    /// The manifest's `format_version` is not one this build reads.
    case unsupportedFormatVersion(file: String, found: Int, supported: Int)
    /// A field holds a value that breaks a rule of the format.
    case invalidField(file: String, field: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read: \(reason)"
        case let .malformedManifest(file, field, reason):
            return field.isEmpty ? "\(file): malformed manifest: \(reason)" : "\(file): '\(field)': \(reason)"
        case let .unsupportedFormatVersion(file, found, supported):
            return "\(file): 'format_version': expected \(supported), found \(found)"
        case let .invalidField(file, field, expected, found):
            return "\(file): '\(field)': expected \(expected), found \(found)"
        }
    }

    /// The manifest field the error is about, if any (for tests and tooling).
    public var field: String? {
        switch self {
        case .unreadable: return nil
        case let .malformedManifest(_, field, _): return field
        case .unsupportedFormatVersion: return "format_version"
        case let .invalidField(_, field, _, _): return field
        }
    }
}
