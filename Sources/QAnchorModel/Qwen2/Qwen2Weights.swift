import Foundation

/// One Qwen2 decoder layer in the engine's layout: PyTorch `[out, in]` matrices, q/k/v fused into one
/// `[qWidth + 2·kvWidth, d]` matrix (with fused bias) and gate/up fused into `[2F, d]`, so each needs one product.
/// Matrices are in the form of the load's ``ComputeBackend``; norms and biases stay fp32.
struct Qwen2LayerWeights: Sendable {
    let inputNorm: Tensor                       // [d]
    let qkvWeight: any LinearWeight, qkvBias: Tensor   // [qW + 2 kvW, d], [qW + 2 kvW]
    let outputWeight: any LinearWeight             // [d, qW]
    let postAttentionNorm: Tensor               // [d]
    let gateUpWeight: any LinearWeight             // [2F, d]  (gate rows, then up rows)
    let downWeight: any LinearWeight               // [d, F]
}

/// All weights of a `Qwen2Model` (`model.` prefix optional; `lm_head.weight` ignored, the LM head is never applied).
///
/// Threading: immutable after loading; shared read-only.
struct Qwen2Weights: ModelWeights {
    let embedTokens: EmbeddingTable       // [V, d]
    let layers: [Qwen2LayerWeights]
    let finalNorm: Tensor                 // [d]

    /// Loads and checks every tensor; each layer's matrices are converted to the backend's form as soon as they are
    /// read. Tensors the engine does not use are skipped (``SkippedTensors``).
    init(file: SafeTensorsFile, shape c: Qwen2Configuration, maker: WeightMaker) throws {
        var w = WeightLoader(file: file, prefixes: ["model.", ""], ignored: SkippedTensors.qwen2)
        let d = c.hiddenSize, qW = c.queryWidth, kvW = c.kvWidth, f = c.intermediateSize
        embedTokens = maker.embeddingTable(try w.load("embed_tokens.weight", shape: [c.vocabularySize, d]))
        var layers: [Qwen2LayerWeights] = []
        for i in 0..<c.layers {
            let p = "layers.\(i)."
            let q = try w.load(p + "self_attn.q_proj.weight", shape: [qW, d])
            let k = try w.load(p + "self_attn.k_proj.weight", shape: [kvW, d])
            let v = try w.load(p + "self_attn.v_proj.weight", shape: [kvW, d])
            let qb = try w.load(p + "self_attn.q_proj.bias", shape: [qW])
            let kb = try w.load(p + "self_attn.k_proj.bias", shape: [kvW])
            let vb = try w.load(p + "self_attn.v_proj.bias", shape: [kvW])
            let gate = try w.load(p + "mlp.gate_proj.weight", shape: [f, d])
            let up = try w.load(p + "mlp.up_proj.weight", shape: [f, d])
            layers.append(Qwen2LayerWeights(
                inputNorm: try w.load(p + "input_layernorm.weight", shape: [d]),
                qkvWeight: maker.linear(fusing: [q, k, v]), qkvBias: .concatenatingRows([qb, kb, vb]),
                outputWeight: maker.linear(try w.load(p + "self_attn.o_proj.weight", shape: [d, qW])),
                postAttentionNorm: try w.load(p + "post_attention_layernorm.weight", shape: [d]),
                gateUpWeight: maker.linear(fusing: [gate, up]),
                downWeight: maker.linear(try w.load(p + "mlp.down_proj.weight", shape: [d, f]))))
        }
        self.layers = layers
        finalNorm = try w.load("norm.weight", shape: [d])
        try w.checkNoneLeft()
    }

    /// Random weights of the given shape (benchmarks), scaled to keep activations O(1).
    /// The same random values for both precisions (bf16 rounds them when packing).
    init(randomFor c: Qwen2Configuration, maker: inout WeightMaker) {
        let d = c.hiddenSize, qW = c.queryWidth, kvW = c.kvWidth, f = c.intermediateSize
        func r(_ shape: [Int], _ scale: Float) -> Tensor { maker.random(shape, scale: scale) }
        func m(_ shape: [Int], _ scale: Float) -> any LinearWeight { maker.randomLinear(shape, scale: scale) }
        let ws = 1 / Float(d).squareRoot()
        embedTokens = maker.embeddingTable(r([c.vocabularySize, d], 0.05))
        layers = (0..<c.layers).map { _ in
            Qwen2LayerWeights(inputNorm: .filled(shape: [d], value: 1),
                              qkvWeight: m([qW + 2 * kvW, d], ws), qkvBias: r([qW + 2 * kvW], 0.02),
                              outputWeight: m([d, qW], ws), postAttentionNorm: .filled(shape: [d], value: 1),
                              gateUpWeight: m([2 * f, d], ws), downWeight: m([d, f], 1 / Float(f).squareRoot()))
        }
        finalNorm = .filled(shape: [d], value: 1)
    }

    /// Total bytes of weights held (fp32 tensors + the backend's matrices).
    var byteCount: Int {
        var n = embedTokens.byteCount + finalNorm.count * 4
        for l in layers {
            n += (l.inputNorm.count + l.qkvBias.count + l.postAttentionNorm.count) * 4
            n += l.qkvWeight.byteCount + l.outputWeight.byteCount + l.gateUpWeight.byteCount + l.downWeight.byteCount
        }
        return n
    }
}
