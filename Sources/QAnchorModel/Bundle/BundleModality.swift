/// One modality of a bundle manifest (`modalities[i]` in `qanchor.json`).
///
/// A text modality (`kind: "text"`) has `max_events` (K_m) slots of event tokens, a WordPiece limit
/// `max_text_tokens` and an `encoder` directory (BERT in Hugging Face layout; several modalities may name the same
/// one). A tabular modality (`kind: "tabular"`) has `features` (F) numbers per snapshot and `slots` repeated slot
/// tokens. Both name their block's start and end tokens and the authors' placeholder (`pad_token`), which must be
/// tokens of the backbone tokenizer. Invariants hold after ``BundleManifest/validate(backboneTokenizer:)``.
/// A value type: safe to share between threads.
public struct BundleModality: Codable, Sendable, Equatable {
    /// What the modality's events carry.
    public enum Kind: String, Codable, Sendable {
        /// Free text per event, encoded to `h` by a BERT encoder.
        case text
        /// One vector of `features` numbers per snapshot; the newest snapshot in the window is used.
        case tabular
    }

    /// The modality's name: the `"modality"` of input events, `[a-z][a-z0-9_]*`, unique in the manifest.
    public var name: String
    public var kind: Kind
    /// K_m: event-token slots of a text modality (the newest events kept, the rest padding).
    public var maxEvents: Int?
    /// WordPiece tokens per event text, `[CLS]` and `[SEP]` included (text only).
    public var maxTextTokens: Int?
    /// The encoder directory, relative to the bundle (text only).
    public var encoder: String?
    /// F: numbers per tabular snapshot (tabular only).
    public var features: Int?
    /// Slot tokens the tabular vector is repeated into (tabular only).
    public var slots: Int?
    public var startToken: String
    public var endToken: String
    /// The authors' placeholder token for this modality's slots; never fed to the backbone (the slots are vectors).
    public var padToken: String

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, encoder, features, slots
        case maxEvents = "max_events", maxTextTokens = "max_text_tokens"
        case startToken = "start_token", endToken = "end_token", padToken = "pad_token"
    }

    public init(name: String, kind: Kind, maxEvents: Int? = nil, maxTextTokens: Int? = nil, encoder: String? = nil,
                features: Int? = nil, slots: Int? = nil, startToken: String, endToken: String, padToken: String) {
        self.name = name
        self.kind = kind
        self.maxEvents = maxEvents
        self.maxTextTokens = maxTextTokens
        self.encoder = encoder
        self.features = features
        self.slots = slots
        self.startToken = startToken
        self.endToken = endToken
        self.padToken = padToken
    }

    /// Token positions of the modality's block between its start and end tokens: K_m, or the tabular slots.
    public var slotCount: Int {
        switch kind {
        case .text: return maxEvents ?? 0
        case .tabular: return slots ?? 0
        }
    }
}
