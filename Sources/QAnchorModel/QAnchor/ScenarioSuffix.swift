/// One scenario's suffix: the query text (through the manifest's template, tokenised by the backbone tokenizer),
/// the scenario's soft-prompt vectors, then the readout token — and how its readout is scored (prototypes, labels,
/// tau). The embedding is read at the last position. Built once per process for the bundle's scenarios, and per
/// request for ad-hoc queries (``ScenarioQuery``). Immutable.
struct ScenarioSuffix: Sendable {
    /// The id the results carry.
    let id: String
    let queryTokens: [Int32]
    /// `softPromptRows × D`, row-major.
    let softPrompt: [Float]
    let softPromptRows: Int
    let readoutToken: Int32
    /// `K × output`, row-major, with `labels.count == K` and `tau > 0`; nil: no scores.
    let scoring: Scoring?

    struct Scoring: Sendable {
        let prototypes: [Float]
        let labels: [String]
        let tau: Double
    }

    var items: [DecoderInputItem] {
        var out = queryTokens.map { DecoderInputItem.token($0) }
        let d = softPromptRows == 0 ? 1 : softPrompt.count / softPromptRows
        for r in 0..<softPromptRows { out.append(.vector(Array(softPrompt[r * d..<(r + 1) * d]))) }
        out.append(.token(readoutToken))
        return out
    }
}

/// One scenario's result for one user.
public struct ScenarioEmbedding: Sendable, Equatable {
    public var scenario: String
    /// The projected (and, per the manifest, L2-normalised) embedding.
    public var embedding: [Float]
    /// `softmax(u · Pᵀ / τ)` per label, in the manifest's label order, when the scenario has prototypes.
    public var scores: [LabelScore]?
    /// The final-norm hidden state at the readout token (for diagnostics and tests).
    public var hidden: [Float]
}

/// A prototype label and its score.
public struct LabelScore: Sendable, Equatable {
    public var label: String
    public var score: Float

    public init(label: String, score: Float) {
        self.label = label
        self.score = score
    }
}
