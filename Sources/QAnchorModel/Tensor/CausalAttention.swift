/// Keys and values attention reads: `past` positions shared by every run (a cached prefix), then each run's own
/// positions (causal among themselves). Rows have stride `kvWidth`; `own` rows are indexed like the packed queries.
struct AttentionSources {
    let pastKeys: UnsafePointer<Float>, pastValues: UnsafePointer<Float>, pastLength: Int
    let ownKeys: UnsafePointer<Float>, ownValues: UnsafePointer<Float>
}

/// Scratch for ``groupedCausalAttention``: stacked queries and outputs `[T·G, hd]`, scores `[blockRows·G, P + T]`.
struct AttentionScratch {
    let queries: UnsafeMutablePointer<Float>, outputs: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>

    static func floats(rows t: Int, past p: Int, heads: Int, headDim: Int, blockRows: Int)
        -> (queries: Int, outputs: Int, scores: Int) {
        (t * heads * headDim, t * heads * headDim, min(blockRows, t) * heads * (p + t))
    }
}

/// Grouped-query causal attention for packed runs of query rows (`runs`, ranges of rows of `q`), every run continuing
/// the same `past` positions. For query row i of a run starting at row r (its position P + i − r), head h, and its
/// KV head g = h / G (G = heads / kvHeads):
///   s_j = (q_i,h · k_j,g) / √hd  over past j < P and the run's own rows r ≤ j ≤ i;   p = softmax(s);
///   out_i,h = Σ_j p_j v_j,g
/// The G query heads of a KV head are stacked into one `[rows·G, hd]` matrix so that each block needs one sgemm for
/// the past (shared by all runs in the block) and one per run for its own keys, for scores and again for outputs.
/// Rows are processed in blocks of `blockRows`; a block only scores the own keys its rows can see.
/// `q` rows have stride `ldq` (head h at column h·hd); `out` rows have stride `ldo`.
func groupedCausalAttention(q: UnsafePointer<Float>, ldq: Int, runs: [Range<Int>], sources s: AttentionSources,
                            heads: Int, kvHeads: Int, headDim hd: Int,
                            out: UnsafeMutablePointer<Float>, ldo: Int, scratch: AttentionScratch, blockRows: Int,
                            threads: Int) {
    let p = s.pastLength, kvWidth = kvHeads * hd, group = heads / kvHeads, gw = group * hd
    let total = runs.last?.upperBound ?? 0
    let scale = 1 / Float(hd).squareRoot()
    for g in 0..<kvHeads {
        // Stack the group's query heads: row (i, j) = q[i, (g·G + j)·hd ..< +hd]  →  qs[(i·G + j)·hd].
        for i in 0..<total { (scratch.queries + i * gw).update(from: q + i * ldq + g * gw, count: gw) }
        let pastK = s.pastKeys + g * hd, pastV = s.pastValues + g * hd
        let ownK = s.ownKeys + g * hd, ownV = s.ownValues + g * hd
        var r0 = 0
        while r0 < total {
            let r1 = min(total, r0 + blockRows)
            let blockRuns = runs.filter { $0.upperBound > r0 && $0.lowerBound < r1 }
            let width = p + (blockRuns.map { min($0.upperBound, r1) - $0.lowerBound }.max() ?? 0)
            let qs = scratch.queries + r0 * gw, os = scratch.outputs + r0 * gw, scores = scratch.scores
            let m = (r1 - r0) * group
            if p > 0 {
                sgemm(m: m, n: p, k: hd, a: qs, lda: hd, b: pastK, ldb: kvWidth, bTransposed: true,
                      c: scores, ldc: width, alpha: scale)
            }
            for run in blockRuns {
                let lo = max(run.lowerBound, r0), hi = min(run.upperBound, r1), keys = hi - run.lowerBound
                sgemm(m: (hi - lo) * group, n: keys, k: hd, a: qs + (lo - r0) * gw, lda: hd,
                      b: ownK + run.lowerBound * kvWidth, ldb: kvWidth, bTransposed: true,
                      c: scores + (lo - r0) * group * width + p, ldc: width, alpha: scale)
            }
            // One parallel softmax over the block: stacked row (i, j) sees P past keys and its run's rows up to i.
            parallelForDynamic(r1 - r0, workers: threads, grain: 16) { rows in
                var k = 0
                for i in r0 + rows.lowerBound ..< r0 + rows.upperBound {
                    while blockRuns[k].upperBound <= i { k += 1 }
                    let valid = p + i - blockRuns[k].lowerBound + 1
                    for j in 0..<group { softmaxRow(scores + ((i - r0) * group + j) * width, valid: valid, width: width) }
                }
            }
            if p > 0 {
                sgemm(m: m, n: hd, k: p, a: scores, lda: width, b: pastV, ldb: kvWidth, bTransposed: false, c: os, ldc: hd)
            }
            for run in blockRuns {
                let lo = max(run.lowerBound, r0), hi = min(run.upperBound, r1), keys = hi - run.lowerBound
                sgemm(m: (hi - lo) * group, n: hd, k: keys, a: scores + (lo - r0) * group * width + p, lda: width,
                      b: ownV + run.lowerBound * kvWidth, ldb: kvWidth, bTransposed: false,
                      c: os + (lo - r0) * gw, ldc: hd, beta: p > 0 ? 1 : 0)
            }
            r0 = r1
        }
        // Unstack: out[i, (g·G + j)·hd] = os[(i·G + j)·hd].
        for i in 0..<total { (out + i * ldo + g * gw).update(from: scratch.outputs + i * gw, count: gw) }
    }
}
