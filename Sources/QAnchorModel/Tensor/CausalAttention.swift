/// Where one run of query rows reads its keys and values: `past` positions shared by every run (a cached prefix)
/// followed by the run's `own` positions (causal among themselves). K/V rows have stride `kvWidth`.
struct AttentionSources {
    let pastKeys: UnsafePointer<Float>, pastValues: UnsafePointer<Float>, pastLength: Int
    let ownKeys: UnsafePointer<Float>, ownValues: UnsafePointer<Float>
}

/// Grouped-query causal attention of `n` query rows against past + own keys, all heads:
///   for query row i (absolute position P + i), head h, KV head g = h / (heads / kvHeads):
///   s_j = (q_i · k_j) / √hd  for past j < P and own j ≤ i;   p = softmax(s);   out_i,h = Σ_j p_j v_j
/// Rows are processed in blocks of `block`: a block only computes scores for the own keys its last row can see
/// (the causal triangle is skipped block-wise), the rest of each row is masked to probability 0.
/// `q` rows have stride `ldq` (head h at column h·hd); `out` rows have stride `ldo`;
/// `scores` holds at least `block × (P + n)` floats.
func causalAttention(q: UnsafePointer<Float>, ldq: Int, n: Int, sources s: AttentionSources,
                     heads: Int, kvHeads: Int, headDim hd: Int,
                     out: UnsafeMutablePointer<Float>, ldo: Int, scores: UnsafeMutablePointer<Float>, block: Int) {
    let p = s.pastLength, kvWidth = kvHeads * hd, group = heads / kvHeads
    let scale = 1 / Float(hd).squareRoot()
    var r0 = 0
    while r0 < n {
        let r1 = min(n, r0 + block), b = r1 - r0, width = p + r1
        for h in 0..<heads {
            let g = h / group
            let qh = q + r0 * ldq + h * hd, oh = out + r0 * ldo + h * hd
            if p > 0 {
                sgemm(m: b, n: p, k: hd, a: qh, lda: ldq, b: s.pastKeys + g * hd, ldb: kvWidth, bTransposed: true,
                      c: scores, ldc: width, alpha: scale)
            }
            sgemm(m: b, n: r1, k: hd, a: qh, lda: ldq, b: s.ownKeys + g * hd, ldb: kvWidth, bTransposed: true,
                  c: scores + p, ldc: width, alpha: scale)
            for i in 0..<b { softmaxRow(scores + i * width, valid: p + r0 + i + 1, width: width) }
            if p > 0 {
                sgemm(m: b, n: hd, k: p, a: scores, lda: width, b: s.pastValues + g * hd, ldb: kvWidth,
                      bTransposed: false, c: oh, ldc: ldo)
            }
            sgemm(m: b, n: hd, k: r1, a: scores + p, lda: width, b: s.ownValues + g * hd, ldb: kvWidth,
                  bTransposed: false, c: oh, ldc: ldo, beta: p > 0 ? 1 : 0)
        }
        r0 = r1
    }
}
