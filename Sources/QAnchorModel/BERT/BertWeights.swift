import Foundation

/// The weights of one BERT layer in the engine's layout: PyTorch `[out, in]` matrices (used by sgemm as-is),
/// query/key/value fused into one `[3d, d]` matrix so that one sgemm projects all three.
/// Matrices are in the form of the load's ``ComputeBackend``; biases and norms stay fp32.
struct BertLayerWeights: Sendable {
    let qkvWeight: any LinearWeight, qkvBias: Tensor                     // [3d, d], [3d]
    let attentionOutWeight: any LinearWeight, attentionOutBias: Tensor   // [d, d], [d]
    let attentionNormWeight: Tensor, attentionNormBias: Tensor       // [d]
    let intermediateWeight: any LinearWeight, intermediateBias: Tensor   // [F, d], [F]
    let outputWeight: any LinearWeight, outputBias: Tensor               // [d, F], [d]
    let outputNormWeight: Tensor, outputNormBias: Tensor       // [d]
}

/// All weights of a `BertModel` (the pooler is not used: the engine returns the [CLS] hidden state).
///
/// Threading: immutable after loading; shared read-only.
struct BertWeights: ModelWeights {
    let wordEmbeddings: Tensor        // [V, d]
    let positionEmbeddings: Tensor    // [P, d]
    let tokenTypeEmbeddings: Tensor   // [types, d]
    let embeddingNormWeight: Tensor, embeddingNormBias: Tensor
    let layers: [BertLayerWeights]

    /// Loads from a `BertModel` safetensors file (names with or without a `bert.` prefix), checking every shape.
    /// Tensors the engine does not use are skipped (``SkippedTensors``).
    init(file: SafeTensorsFile, shape c: BertConfiguration, maker: WeightMaker) throws {
        var w = WeightLoader(file: file, prefixes: ["", "bert."], ignored: SkippedTensors.bert)
        let d = c.hiddenSize, f = c.intermediateSize
        wordEmbeddings = try w.load("embeddings.word_embeddings.weight", shape: [c.vocabularySize, d])
        positionEmbeddings = try w.load("embeddings.position_embeddings.weight", shape: [c.maxPositions, d])
        tokenTypeEmbeddings = try w.load("embeddings.token_type_embeddings.weight", shape: [c.typeVocabularySize, d])
        embeddingNormWeight = try w.load("embeddings.LayerNorm.weight", shape: [d])
        embeddingNormBias = try w.load("embeddings.LayerNorm.bias", shape: [d])
        var layers: [BertLayerWeights] = []
        for i in 0..<c.layers {
            let p = "encoder.layer.\(i)."
            let q = try w.load(p + "attention.self.query.weight", shape: [d, d])
            let k = try w.load(p + "attention.self.key.weight", shape: [d, d])
            let v = try w.load(p + "attention.self.value.weight", shape: [d, d])
            let qb = try w.load(p + "attention.self.query.bias", shape: [d])
            let kb = try w.load(p + "attention.self.key.bias", shape: [d])
            let vb = try w.load(p + "attention.self.value.bias", shape: [d])
            layers.append(BertLayerWeights(
                qkvWeight: maker.linear(fusing: [q, k, v]), qkvBias: .concatenatingRows([qb, kb, vb]),
                attentionOutWeight: maker.linear(try w.load(p + "attention.output.dense.weight", shape: [d, d])),
                attentionOutBias: try w.load(p + "attention.output.dense.bias", shape: [d]),
                attentionNormWeight: try w.load(p + "attention.output.LayerNorm.weight", shape: [d]),
                attentionNormBias: try w.load(p + "attention.output.LayerNorm.bias", shape: [d]),
                intermediateWeight: maker.linear(try w.load(p + "intermediate.dense.weight", shape: [f, d])),
                intermediateBias: try w.load(p + "intermediate.dense.bias", shape: [f]),
                outputWeight: maker.linear(try w.load(p + "output.dense.weight", shape: [d, f])),
                outputBias: try w.load(p + "output.dense.bias", shape: [d]),
                outputNormWeight: try w.load(p + "output.LayerNorm.weight", shape: [d]),
                outputNormBias: try w.load(p + "output.LayerNorm.bias", shape: [d])))
        }
        self.layers = layers
        try w.checkNoneLeft()
    }

    /// Random weights of the given shape (benchmarks), uniform with a scale that keeps activations O(1).
    init(randomFor c: BertConfiguration, maker: inout WeightMaker) {
        let d = c.hiddenSize, f = c.intermediateSize
        func r(_ shape: [Int], _ scale: Float) -> Tensor { maker.random(shape, scale: scale) }
        func m(_ shape: [Int], _ scale: Float) -> any LinearWeight { maker.randomLinear(shape, scale: scale) }
        let ws = 1 / Float(d).squareRoot()
        wordEmbeddings = r([c.vocabularySize, d], 1)
        positionEmbeddings = r([c.maxPositions, d], 0.1)
        tokenTypeEmbeddings = r([c.typeVocabularySize, d], 0.1)
        embeddingNormWeight = .filled(shape: [d], value: 1)
        embeddingNormBias = Tensor(zeros: [d])
        layers = (0..<c.layers).map { _ in
            BertLayerWeights(qkvWeight: m([3 * d, d], ws), qkvBias: r([3 * d], 0.02),
                             attentionOutWeight: m([d, d], ws), attentionOutBias: r([d], 0.02),
                             attentionNormWeight: .filled(shape: [d], value: 1), attentionNormBias: Tensor(zeros: [d]),
                             intermediateWeight: m([f, d], ws), intermediateBias: r([f], 0.02),
                             outputWeight: m([d, f], 1 / Float(f).squareRoot()), outputBias: r([d], 0.02),
                             outputNormWeight: .filled(shape: [d], value: 1), outputNormBias: Tensor(zeros: [d]))
        }
    }

    /// Total bytes of weights held (fp32 tensors + the backend's matrices).
    var byteCount: Int {
        var n = (wordEmbeddings.count + positionEmbeddings.count + tokenTypeEmbeddings.count + 2 * embeddingNormWeight.count) * 4
        for l in layers {
            n += (l.qkvBias.count + l.attentionOutBias.count + 2 * l.attentionNormWeight.count) * 4
            n += (l.intermediateBias.count + l.outputBias.count + 2 * l.outputNormWeight.count) * 4
            n += l.qkvWeight.byteCount + l.attentionOutWeight.byteCount + l.intermediateWeight.byteCount + l.outputWeight.byteCount
        }
        return n
    }
}
