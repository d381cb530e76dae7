import Foundation

/// The manifest of a model bundle, `qanchor.json` (format v1; every field is documented in docs/bundle.md).
///
/// Loading (``load(bundleDirectory:)`` or ``init(data:file:)``) checks the JSON shape and the format version;
/// ``validate(backboneTokenizer:)`` checks the rules that do not need tensors (tokens known to the backbone
/// tokenizer, positive sizes, unique names, a complete layout, the templates). Tensor-level checks (shapes in
/// `heads.safetensors`, K_m and F against the tensors, soft-prompt widths) belong to the bundle loader.
/// A value type: safe to share between threads.
public struct BundleManifest: Codable, Sendable, Equatable {
    /// The format version this build reads and writes.
    public static let supportedFormatVersion = 1
    /// The manifest's file name inside a bundle directory.
    public static let fileName = "qanchor.json"
    /// The heads file's name inside a bundle directory.
    public static let headsFileName = "heads.safetensors"
    /// The files read from the backbone and from each encoder directory.
    public static let modelFileNames = ["config.json", "model.safetensors", "tokenizer.json"]

    public var formatVersion: Int
    public var name: String
    public var version: String
    /// The backbone directory, relative to the bundle (default `backbone`).
    public var backbone: String
    /// The modalities; their order is the order of the modality summary tokens.
    public var modalities: [BundleModality]
    /// Events older than `now - window_days` days are outside the user's history.
    public var windowDays: Int
    public var layout: [LayoutSegment]
    /// The suffix text, with exactly one `{query}`.
    public var suffixTemplate: String
    /// The token whose final hidden state is read out (`<|user_emb|>`); appended after the soft prompt.
    public var readoutToken: String
    /// The epsilon of every adapter's LayerNorm (the authors use 1e-6).
    public var adapterLayerNormEps: Double
    /// Whether padding slots are visible to attention (true in the authors' code).
    public var paddingVisible: Bool
    public var projection: BundleProjection
    /// Whether embeddings are L2-normalised after the projection.
    public var normalize: Bool
    public var textTower: TextTowerTemplate
    public var scenarios: [BundleScenario]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, version, backbone, modalities, layout, readout = "readout_token", projection, normalize
        case scenarios, formatVersion = "format_version", windowDays = "window_days"
        case suffixTemplate = "suffix_template", adapterLayerNormEps = "adapter_layer_norm_eps"
        case paddingVisible = "padding_visible", textTower = "text_tower"
    }

    private struct VersionProbe: Decodable {
        let formatVersion: Int
        enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(String.self, forKey: .version)
        backbone = try c.decodeIfPresent(String.self, forKey: .backbone) ?? "backbone"
        modalities = try c.decode([BundleModality].self, forKey: .modalities)
        windowDays = try c.decode(Int.self, forKey: .windowDays)
        layout = try c.decode([LayoutSegment].self, forKey: .layout)
        suffixTemplate = try c.decode(String.self, forKey: .suffixTemplate)
        readoutToken = try c.decode(String.self, forKey: .readout)
        adapterLayerNormEps = try c.decodeIfPresent(Double.self, forKey: .adapterLayerNormEps) ?? 1e-6
        paddingVisible = try c.decodeIfPresent(Bool.self, forKey: .paddingVisible) ?? true
        projection = try c.decode(BundleProjection.self, forKey: .projection)
        normalize = try c.decodeIfPresent(Bool.self, forKey: .normalize) ?? true
        textTower = try c.decode(TextTowerTemplate.self, forKey: .textTower)
        scenarios = try c.decode([BundleScenario].self, forKey: .scenarios)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(name, forKey: .name)
        try c.encode(version, forKey: .version)
        try c.encode(backbone, forKey: .backbone)
        try c.encode(modalities, forKey: .modalities)
        try c.encode(windowDays, forKey: .windowDays)
        try c.encode(layout, forKey: .layout)
        try c.encode(suffixTemplate, forKey: .suffixTemplate)
        try c.encode(readoutToken, forKey: .readout)
        try c.encode(adapterLayerNormEps, forKey: .adapterLayerNormEps)
        try c.encode(paddingVisible, forKey: .paddingVisible)
        try c.encode(projection, forKey: .projection)
        try c.encode(normalize, forKey: .normalize)
        try c.encode(textTower, forKey: .textTower)
        try c.encode(scenarios, forKey: .scenarios)
    }

    /// Reads `qanchor.json` from a bundle directory (shape and version only; call ``validate(backboneTokenizer:)``).
    public static func load(bundleDirectory: URL) throws(BundleError) -> BundleManifest {
        let url = bundleDirectory.appendingPathComponent(fileName)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .unreadable(file: url.path, reason: "\(error.localizedDescription)")
        }
        return try BundleManifest(data: data, file: url.path)
    }

    /// Parses a manifest; `file` names it in errors. The version is checked before the rest of the shape, so a
    /// newer manifest is reported as such rather than as a missing field.
    public init(data: Data, file: String) throws(BundleError) {
        let decoder = JSONDecoder()
        do {
            let probe = try decoder.decode(VersionProbe.self, from: data)
            guard probe.formatVersion == Self.supportedFormatVersion else {
                throw BundleError.unsupportedFormatVersion(file: file, found: probe.formatVersion,
                                                           supported: Self.supportedFormatVersion)
            }
            let tree = try JSONValue.decode(data)
            try Self.checkKeys(tree, file: file)
            do { self = try decoder.decode(BundleManifest.self, from: data) } catch let error as DecodingError {
                let (field, reason) = Self.describe(error, in: tree)
                throw BundleError.malformedManifest(file: file, field: field, reason: reason)
            }
        } catch let error as BundleError {
            throw error
        } catch let error as DecodingError {
            let (field, reason) = Self.describe(error, in: nil)
            throw .malformedManifest(file: file, field: field, reason: reason)
        } catch {
            throw .malformedManifest(file: file, field: "", reason: "\(error)")
        }
    }

    /// The modality with this name, if any.
    public func modality(named name: String) -> BundleModality? { modalities.first { $0.name == name } }

    /// The scenario with this id, if any.
    public func scenario(id: String) -> BundleScenario? { scenarios.first { $0.id == id } }

    /// Distinct encoder directories (normalised), in first-use order.
    public var encoderDirectories: [String] {
        var seen: [String] = []
        for m in modalities where m.kind == .text {
            if let dir = m.encoder.flatMap({ try? Self.normalizedDirectory($0, field: "encoder") }),
               !seen.contains(dir) {
                seen.append(dir)
            }
        }
        return seen
    }

    /// A bundle-relative directory in canonical form: `/`-separated components, none empty, `.` or `..`, not
    /// absolute, no backslash; a trailing `/` is dropped.
    public static func normalizedDirectory(_ path: String, field: String) throws(BundleError) -> String {
        var trimmed = Substring(path)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\\"),
              !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw .invalidField(file: fileName, field: field,
                                expected: "a relative directory inside the bundle without '.', '..' or empty components",
                                found: "'\(path)'")
        }
        return parts.joined(separator: "/")
    }

    /// `modalities[2].max_events` style path and a short reason for a decoding error.
    static func describe(_ error: DecodingError, in root: JSONValue?) -> (field: String, reason: String) {
        func found(_ keys: [any CodingKey]) -> String {
            root.flatMap { value(at: keys, in: $0) }.map { ", found \($0.kindDescription)" } ?? ""
        }
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out
        }
        switch error {
        case let .keyNotFound(key, context):
            return (path(context.codingPath + [key]), "missing")
        case let .typeMismatch(type, context):
            let what = found(context.codingPath)
            return (path(context.codingPath), "expected \(typeName(type))" + (what.isEmpty ? ": \(context.debugDescription)" : what))
        case let .valueNotFound(type, context):
            return (path(context.codingPath), "expected \(typeName(type)), found null")
        case let .dataCorrupted(context):
            return (path(context.codingPath), context.debugDescription)
        @unknown default:
            return ("", "\(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        default: return "\(type)"
        }
    }
}
