import Foundation

/// The shape of a `transformers` `Qwen2Model`, read from its `config.json`.
///
/// Invariants (checked on load): sizes positive; `hiddenSize` divisible by `heads`; `heads` divisible by `kvHeads`;
/// an even head width; `hidden_act == "silu"`; no sliding window. `rope_theta` is read from the top level or, in newer
/// configs, from `rope_parameters.rope_theta`; only the default RoPE type is supported.
/// `tie_word_embeddings` does not matter to the engine: it never applies the LM head, and an `lm_head.weight` in the
/// file is ignored. Threading: immutable value.
public struct Qwen2Configuration: Sendable, Equatable, ModelShape {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var ropeTheta: Double
    public var rmsNormEps: Float
    public var tieWordEmbeddings: Bool

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / heads }
    /// Width of all query heads (= hiddenSize).
    public var queryWidth: Int { heads * headDim }
    /// Width of all key (or value) heads.
    public var kvWidth: Int { kvHeads * headDim }

    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, intermediateSize: Int,
                maxPositions: Int, ropeTheta: Double, rmsNormEps: Float = 1e-6, tieWordEmbeddings: Bool = true) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    /// Qwen2.5-0.5B: 896 wide, 24 layers, 14 heads, 2 KV heads, FFN 4864, vocabulary 151936, θ = 1e6.
    public static let qwen25_0_5B = Qwen2Configuration(vocabularySize: 151_936, hiddenSize: 896, layers: 24, heads: 14,
                                                       kvHeads: 2, intermediateSize: 4864, maxPositions: 32768,
                                                       ropeTheta: 1_000_000, rmsNormEps: 1e-6, tieWordEmbeddings: true)

    /// Reads `config.json`. Throws ``ModelLoadError/badConfig(file:key:detail:)``.
    public init(contentsOf url: URL) throws {
        let c = try ConfigFile(url: url)
        self.init(vocabularySize: try c.positiveInt("vocab_size"), hiddenSize: try c.positiveInt("hidden_size"),
                  layers: try c.positiveInt("num_hidden_layers"), heads: try c.positiveInt("num_attention_heads"),
                  kvHeads: try c.positiveInt("num_key_value_heads"), intermediateSize: try c.positiveInt("intermediate_size"),
                  maxPositions: try c.positiveInt("max_position_embeddings"),
                  ropeTheta: try c.positiveDouble("rope_theta", nested: ("rope_parameters", "rope_theta")),
                  rmsNormEps: Float(try c.positiveDouble("rms_norm_eps", default: 1e-6)),
                  tieWordEmbeddings: try c.bool("tie_word_embeddings", default: true))
        func bad(_ key: String, _ detail: String) -> ModelLoadError { .badConfig(file: c.path, key: key, detail: detail) }
        guard hiddenSize % heads == 0, headDim % 2 == 0 else {
            throw bad("num_attention_heads", "hidden_size \(hiddenSize) / \(heads) heads must be an even integer")
        }
        guard heads % kvHeads == 0 else { throw bad("num_key_value_heads", "\(heads) heads not divisible by \(kvHeads)") }
        let act = try c.string("hidden_act", default: "silu")
        guard act == "silu" else { throw bad("hidden_act", "expected \"silu\", found \"\(act)\"") }
        guard try !c.bool("use_sliding_window", default: false) else { throw bad("use_sliding_window", "sliding window is not supported") }
        if let type = c.object["rope_parameters"]?.objectValue?["rope_type"]?.stringValue, type != "default" {
            throw bad("rope_parameters.rope_type", "only \"default\" RoPE is supported, found \"\(type)\"")
        }
        if let scaling = c.object["rope_scaling"], !scaling.isNull {
            throw bad("rope_scaling", "RoPE scaling is not supported")
        }
    }
}
