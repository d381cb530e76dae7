import Foundation

/// The shape of a `transformers` `BertModel`, read from its `config.json`.
///
/// Invariants (checked on load): every size positive, `hiddenSize` divisible by `heads`, `hidden_act == "gelu"`
/// (the exact erf form), absolute position embeddings. Threading: immutable value.
public struct BertConfiguration: Sendable, Equatable, ModelShape {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEps: Float

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / heads }

    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
                maxPositions: Int, typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
    }

    /// BERT-base (768 wide, 12 layers, 12 heads, FFN 3072), the shape of gte-base.
    public static let base = BertConfiguration(vocabularySize: 30522, hiddenSize: 768, layers: 12, heads: 12,
                                               intermediateSize: 3072, maxPositions: 512)

    /// Reads `config.json`. Throws ``ModelLoadError/badConfig(file:key:detail:)``.
    public init(contentsOf url: URL) throws {
        let c = try ConfigFile(url: url)
        self.init(vocabularySize: try c.positiveInt("vocab_size"), hiddenSize: try c.positiveInt("hidden_size"),
                  layers: try c.positiveInt("num_hidden_layers"), heads: try c.positiveInt("num_attention_heads"),
                  intermediateSize: try c.positiveInt("intermediate_size"),
                  maxPositions: try c.positiveInt("max_position_embeddings"),
                  typeVocabularySize: try c.positiveInt("type_vocab_size"),
                  layerNormEps: Float(try c.positiveDouble("layer_norm_eps", default: 1e-12)))
        guard hiddenSize % heads == 0 else {
            throw ModelLoadError.badConfig(file: c.path, key: "num_attention_heads",
                                           detail: "hidden_size \(hiddenSize) is not divisible by \(heads) heads")
        }
        let act = try c.string("hidden_act", default: "gelu")
        guard act == "gelu" else {
            throw ModelLoadError.badConfig(file: c.path, key: "hidden_act", detail: "expected \"gelu\", found \"\(act)\"")
        }
        let positions = try c.string("position_embedding_type", default: "absolute")
        guard positions == "absolute" else {
            throw ModelLoadError.badConfig(file: c.path, key: "position_embedding_type",
                                           detail: "expected \"absolute\", found \"\(positions)\"")
        }
    }
}
