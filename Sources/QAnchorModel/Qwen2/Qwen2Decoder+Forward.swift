/// One forward pass over a batch of runs that all continue the same cached past.
struct ForwardPlan {
    /// Row ranges of the runs in the packed input (each run sees the past and its own earlier rows).
    let runs: [Range<Int>]
    /// Past positions every run attends to (the cached state's length).
    let past: DecoderState
    /// Where each layer's new K/V rows go: into a new state (prefill) or into scratch (suffixes).
    let keysOut: (Int) -> UnsafeMutablePointer<Float>
    let valuesOut: (Int) -> UnsafeMutablePointer<Float>
    /// Past K/V of each layer (rows [0, past.length)).
    let pastKeys: (Int) -> UnsafePointer<Float>
    let pastValues: (Int) -> UnsafePointer<Float>
    /// Packed rows whose final-norm hidden state is wanted.
    let outputRows: [Int]
    /// Per packed row, its position minus `past.nextPosition`; nil = its index within its run (contiguous runs).
    var positionOffsets: [Int]? = nil
}

extension Qwen2Decoder {
    /// Stacked query rows (positions × heads per KV head) per attention block.
    static let attentionBlockQueries = 1024

    /// Runs all layers over `x` (`[T, d]`, the packed input embeddings, overwritten with the residual stream) and
    /// returns the final-norm hidden states of `plan.outputRows`.
    ///
    /// Per layer (Qwen2DecoderLayer):  a = RMSNorm(x);  q,k,v = a·Wqkvᵀ + b;  RoPE(q, k);  x += Attn(q, K, V)·Woᵀ;
    ///                                  a = RMSNorm(x);  x += (silu(a·Wgᵀ) ⊙ a·Wuᵀ)·Wdᵀ.   Output: RMSNorm_final(x).
    /// When no output is wanted, the last layer stops after writing its K/V (nothing else is observable); otherwise
    /// its output projection and MLP run only on the output rows.
    func forward(_ x: UnsafeMutablePointer<Float>, rows t: Int, plan: ForwardPlan) -> [[Float]] {
        let c = configuration, d = c.hiddenSize, qW = c.queryWidth, kvW = c.kvWidth, f = c.intermediateSize
        let hd = c.headDim, ld = qW + 2 * kvW, p = plan.past.length
        let longest = plan.runs.map(\.count).max() ?? 0
        let ws = workspace
        let a = ws.normed.reserve(t * d), qkv = ws.qkv.reserve(t * ld), att = ws.attention.reserve(t * qW)
        let gu = ws.gateUp.reserve(t * 2 * f), h = ws.hidden.reserve(t * f)
        let threads = BLAS.threads
        let blockRows = max(16, Self.attentionBlockQueries / (c.heads / c.kvHeads))
        let sizes = AttentionScratch.floats(rows: t, past: p, heads: c.heads / c.kvHeads, headDim: hd, blockRows: blockRows)
        let scratch = AttentionScratch(queries: ws.stackedQueries.reserve(sizes.queries),
                                       outputs: ws.stackedOutputs.reserve(sizes.outputs), scores: ws.scores.reserve(sizes.scores))
        let span = max(longest, (plan.positionOffsets?.max() ?? -1) + 1)
        let cos = ws.cos.reserve(span * hd / 2), sin = ws.sin.reserve(span * hd / 2)
        rotary.fill(first: plan.past.nextPosition, count: span, cos: cos, sin: sin)

        var final = x, finalRows: [Int] = []
        for (l, lw) in weights.layers.enumerated() {
            rmsNorm(x, rows: t, d: d, weight: lw.inputNorm.data, eps: c.rmsNormEps, into: a)
            linear(a, rows: t, inFeatures: d, weight: lw.qkvWeight, bias: lw.qkvBias, into: qkv,
                   scratch: ws.packedInput, threads: threads)
            let keysOut = plan.keysOut(l), valuesOut = plan.valuesOut(l)
            for run in plan.runs {
                for (index, r) in run.enumerated() {
                    let row = qkv + r * ld, half = hd / 2, i = plan.positionOffsets?[r] ?? index
                    applyRoPE(row, heads: c.heads, headDim: hd, cos: cos + i * half, sin: sin + i * half)
                    applyRoPE(row + qW, heads: c.kvHeads, headDim: hd, cos: cos + i * half, sin: sin + i * half)
                    (keysOut + r * kvW).update(from: row + qW, count: kvW)
                    (valuesOut + r * kvW).update(from: row + qW + kvW, count: kvW)
                }
            }
            if l == c.layers - 1 && plan.outputRows.isEmpty { break }
            let sources = AttentionSources(pastKeys: plan.pastKeys(l), pastValues: plan.pastValues(l), pastLength: p,
                                           ownKeys: keysOut, ownValues: valuesOut)
            groupedCausalAttention(q: qkv, ldq: ld, runs: plan.runs, sources: sources, heads: c.heads,
                                   kvHeads: c.kvHeads, headDim: hd, out: att, ldo: qW, scratch: scratch,
                                   blockRows: blockRows, threads: threads)
            // After attention only the output rows matter in the last layer: gather them (and their residual rows).
            var rows = t, xr = x, ar = UnsafeMutablePointer(att)
            if l == c.layers - 1 && plan.outputRows.count < t {
                rows = plan.outputRows.count
                xr = ws.outputRows.reserve(rows * d)
                ar = ws.outputAttention.reserve(rows * qW)
                for (n, r) in plan.outputRows.enumerated() {
                    (xr + n * d).update(from: x + r * d, count: d)
                    (ar + n * qW).update(from: att + r * qW, count: qW)
                }
            }
            linear(ar, rows: rows, inFeatures: qW, weight: lw.outputWeight, bias: nil, into: xr, accumulate: true,
                   scratch: ws.packedInput, threads: threads)
            rmsNorm(xr, rows: rows, d: d, weight: lw.postAttentionNorm.data, eps: c.rmsNormEps, into: a)
            linear(a, rows: rows, inFeatures: d, weight: lw.gateUpWeight, bias: nil, into: gu,
                   scratch: ws.packedInput, threads: threads)
            parallelForDynamic(rows, workers: threads, grain: 16) { part in
                swiGLU(gu + part.lowerBound * 2 * f, rows: part.count, f: f, into: h + part.lowerBound * f)
            }
            linear(h, rows: rows, inFeatures: f, weight: lw.downWeight, bias: nil, into: xr, accumulate: true,
                   scratch: ws.packedInput, threads: threads)
            if l == c.layers - 1 { finalRows = xr == x ? plan.outputRows : Array(0..<rows); final = xr }
        }
        return finalRows.map { r in
            var out = [Float](repeating: 0, count: d)
            out.withUnsafeMutableBufferPointer { o in
                rmsNorm(final + r * d, rows: 1, d: d, weight: weights.finalNorm.data, eps: c.rmsNormEps, into: o.baseAddress!)
            }
            return out
        }
    }
}
