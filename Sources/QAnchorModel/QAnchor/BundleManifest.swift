import Foundation

/// The manifest of a model bundle (`qanchor.json`, format version 1). See docs/bundle.md for every field.
///
/// A value type decoded from JSON; `validate` checks what can be checked without the weights.
public struct BundleManifest: Sendable, Codable, Equatable {
    public struct Modality: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case text, tabular }
        public var name: String
        public var kind: Kind
        /// K_m: event slots of a text modality.
        public var maxEvents: Int?
        /// Encoder input cap, [CLS] and [SEP] included.
        public var maxTextTokens: Int?
        /// Encoder directory, relative to the bundle.
        public var encoder: String?
        /// F: feature count of a tabular modality.
        public var features: Int?
        /// Slots the tabular vector is repeated into.
        public var slots: Int?
        public var startToken: String
        public var endToken: String
        public var padToken: String?

        /// Positions of this modality's block between its start and end tokens.
        public var slotCount: Int { kind == .text ? (maxEvents ?? 0) : (slots ?? 0) }

        enum CodingKeys: String, CodingKey {
            case name, kind, encoder, features, slots
            case maxEvents = "max_events", maxTextTokens = "max_text_tokens"
            case startToken = "start_token", endToken = "end_token", padToken = "pad_token"
        }
    }

    /// One piece of the prefix layout.
    public struct Segment: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case text, special, summary, modality }
        public var kind: Kind
        public var text: String?
        public var token: String?
        public var modality: String?
    }

    public struct Projection: Sendable, Codable, Equatable {
        public var hidden: Int
        public var output: Int
    }

    public struct Scenario: Sendable, Codable, Equatable {
        public var id: String
        public var query: String
        /// Name of an `n × d_model` tensor in heads.safetensors.
        public var softPrompt: String?
        /// Name of a `K × output` tensor in heads.safetensors.
        public var prototypes: String?
        public var labels: [String]?
        public var tau: Double?

        enum CodingKeys: String, CodingKey {
            case id, query, labels, tau
            case softPrompt = "soft_prompt", prototypes
        }
    }

    public struct TextTower: Sendable, Codable, Equatable {
        public var template: String
        public var maxTokens: Int

        enum CodingKeys: String, CodingKey {
            case template, maxTokens = "max_tokens"
        }
    }

    public var formatVersion: Int
    public var name: String
    public var version: String
    public var backbone: String
    public var modalities: [Modality]
    public var layout: [Segment]
    public var suffixTemplate: String
    public var readoutToken: String
    public var projection: Projection
    public var normalize: Bool
    public var paddingVisible: Bool
    public var adapterLayerNormEps: Double
    public var scenarios: [Scenario]
    public var textTower: TextTower?
    public var windowDays: Int

    enum CodingKeys: String, CodingKey {
        case name, version, backbone, modalities, layout, projection, normalize, scenarios
        case formatVersion = "format_version", suffixTemplate = "suffix_template", readoutToken = "readout_token"
        case paddingVisible = "padding_visible", adapterLayerNormEps = "adapter_layer_norm_eps"
        case textTower = "text_tower", windowDays = "window_days"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        name = try c.decode(String.self, forKey: .name)
        version = try c.decode(String.self, forKey: .version)
        backbone = try c.decodeIfPresent(String.self, forKey: .backbone) ?? "backbone"
        modalities = try c.decode([Modality].self, forKey: .modalities)
        layout = try c.decode([Segment].self, forKey: .layout)
        suffixTemplate = try c.decode(String.self, forKey: .suffixTemplate)
        readoutToken = try c.decode(String.self, forKey: .readoutToken)
        projection = try c.decode(Projection.self, forKey: .projection)
        normalize = try c.decodeIfPresent(Bool.self, forKey: .normalize) ?? true
        paddingVisible = try c.decodeIfPresent(Bool.self, forKey: .paddingVisible) ?? true
        adapterLayerNormEps = try c.decodeIfPresent(Double.self, forKey: .adapterLayerNormEps) ?? 1e-6
        scenarios = try c.decode([Scenario].self, forKey: .scenarios)
        textTower = try c.decodeIfPresent(TextTower.self, forKey: .textTower)
        windowDays = try c.decodeIfPresent(Int.self, forKey: .windowDays) ?? 90
    }

    public static let fileName = "qanchor.json"
    public static let supportedFormatVersion = 1

    /// Reads and decodes `qanchor.json` in `bundle`.
    public static func load(bundle: URL) throws(QAnchorModelError) -> BundleManifest {
        let url = bundle.appendingPathComponent(fileName)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .bundle(file: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        let manifest: BundleManifest
        do { manifest = try JSONDecoder().decode(BundleManifest.self, from: data) } catch {
            throw .bundle(file: url.path, problem: "not a valid manifest: \(describe(error))")
        }
        guard manifest.formatVersion == supportedFormatVersion else {
            throw .bundle(file: url.path, problem: "format_version \(manifest.formatVersion) is not supported (this build reads \(supportedFormatVersion))")
        }
        return manifest
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field '\(path(context)).\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "field '\(path(context))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
