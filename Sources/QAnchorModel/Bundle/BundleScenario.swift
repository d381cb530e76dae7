/// One scenario of a bundle manifest (`scenarios[i]` in `qanchor.json`): what turns a user prefix into an
/// embedding for one use.
///
/// The suffix is the manifest's `suffix_template` with `{query}` replaced by ``query`` (tokenized by the backbone
/// tokenizer), then the rows of the ``softPrompt`` tensor (n × d_model, optional), then the readout token. With
/// ``prototypes`` (a K × output tensor in `heads.safetensors`), ``labels`` (K distinct names) and ``tau`` (> 0),
/// the output also carries `scores = softmax(u · Pᵀ / tau)`. A value type: safe to share between threads.
public struct BundleScenario: Codable, Sendable, Equatable {
    /// `[A-Za-z0-9._-]{1,200}` (it appears in Kafka topic names), unique in the manifest.
    public var id: String
    /// The query text; may be empty.
    public var query: String
    /// Name of the soft-prompt tensor in `heads.safetensors`.
    public var softPrompt: String?
    /// Name of the prototypes tensor in `heads.safetensors`.
    public var prototypes: String?
    /// One label per prototype row, in row order.
    public var labels: [String]?
    /// Softmax temperature of the scores.
    public var tau: Double?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, query, prototypes, labels, tau
        case softPrompt = "soft_prompt"
    }

    public init(id: String, query: String, softPrompt: String? = nil, prototypes: String? = nil,
                labels: [String]? = nil, tau: Double? = nil) {
        self.id = id
        self.query = query
        self.softPrompt = softPrompt
        self.prototypes = prototypes
        self.labels = labels
        self.tau = tau
    }
}
