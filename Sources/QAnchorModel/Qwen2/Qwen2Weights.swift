import Foundation

/// One Qwen2 decoder layer in the engine's layout: PyTorch `[out, in]` matrices, q/k/v fused into one
/// `[qWidth + 2·kvWidth, d]` matrix (with fused bias) and gate/up fused into `[2F, d]`, so each needs one sgemm.
struct Qwen2LayerWeights: Sendable {
    let inputNorm: Tensor                 // [d]
    let qkvWeight: Tensor, qkvBias: Tensor   // [qW + 2 kvW, d], [qW + 2 kvW]
    let outputWeight: Tensor              // [d, qW]
    let postAttentionNorm: Tensor         // [d]
    let gateUpWeight: Tensor              // [2F, d]  (gate rows, then up rows)
    let downWeight: Tensor                // [d, F]
}

/// All weights of a `Qwen2Model` (`model.` prefix optional; `lm_head.weight` ignored, the LM head is never applied).
///
/// Threading: immutable after loading; shared read-only.
struct Qwen2Weights: Sendable {
    let embedTokens: Tensor               // [V, d]
    let layers: [Qwen2LayerWeights]
    let finalNorm: Tensor                 // [d]

    init(file: SafeTensorsFile, configuration c: Qwen2Configuration) throws {
        var w = WeightLoader(file: file, prefixes: ["model.", ""]) { name in
            name == "lm_head.weight" || name.hasSuffix("rotary_emb.inv_freq")
        }
        let d = c.hiddenSize, qW = c.queryWidth, kvW = c.kvWidth, f = c.intermediateSize
        embedTokens = try w.load("embed_tokens.weight", shape: [c.vocabularySize, d])
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
                qkvWeight: .concatenatingRows([q, k, v]), qkvBias: .concatenatingRows([qb, kb, vb]),
                outputWeight: try w.load(p + "self_attn.o_proj.weight", shape: [d, qW]),
                postAttentionNorm: try w.load(p + "post_attention_layernorm.weight", shape: [d]),
                gateUpWeight: .concatenatingRows([gate, up]),
                downWeight: try w.load(p + "mlp.down_proj.weight", shape: [d, f])))
        }
        self.layers = layers
        finalNorm = try w.load("norm.weight", shape: [d])
        try w.checkNoneLeft()
    }

    /// Random weights of the given shape (benchmarks), scaled to keep activations O(1).
    init(randomFor c: Qwen2Configuration, seed: UInt64) {
        let d = c.hiddenSize, qW = c.queryWidth, kvW = c.kvWidth, f = c.intermediateSize
        var s = seed
        func r(_ shape: [Int], _ scale: Float) -> Tensor { s &+= 1; return .random(shape: shape, scale: scale, seed: s) }
        let ws = 1 / Float(d).squareRoot()
        embedTokens = r([c.vocabularySize, d], 0.05)
        layers = (0..<c.layers).map { _ in
            Qwen2LayerWeights(inputNorm: .filled(shape: [d], value: 1),
                              qkvWeight: r([qW + 2 * kvW, d], ws), qkvBias: r([qW + 2 * kvW], 0.02),
                              outputWeight: r([d, qW], ws), postAttentionNorm: .filled(shape: [d], value: 1),
                              gateUpWeight: r([2 * f, d], ws), downWeight: r([d, f], 1 / Float(f).squareRoot()))
        }
        finalNorm = .filled(shape: [d], value: 1)
    }

    /// Total bytes of fp32 weights.
    var byteCount: Int {
        var n = embedTokens.count + finalNorm.count
        for l in layers {
            n += l.inputNorm.count + l.qkvWeight.count + l.qkvBias.count + l.outputWeight.count
            n += l.postAttentionNorm.count + l.gateUpWeight.count + l.downWeight.count
        }
        return n * 4
    }
}
