import Foundation
import Logging

/// A `transformers` `BertModel` (Linear layers in the ``ComputePrecision`` chosen at load, the rest fp32) that returns the last-layer hidden state at [CLS] (position 0) of each text.
///
/// Texts of different lengths are packed back to back (no padding rows): every Linear runs once over all tokens of
/// the batch through sgemm, and attention runs per text, which is exactly what BertModel computes with a padding
/// mask. The last layer is evaluated only for the [CLS] rows (its keys and values still cover every token).
///
/// Threading: calls are serialised by an internal lock (the workspaces are reused between calls); the encoder may be
/// shared between tasks. OpenBLAS's thread count is process-wide (see ``BLAS/setThreads(_:)``); two engines may call
/// it at once (OpenBLAS's pthread build is thread-safe), but they then share its cores: run encoder and decoder work
/// from one executor for throughput.
public final class BertEncoder: @unchecked Sendable {
    /// The model's shape.
    public let configuration: BertConfiguration
    /// The arithmetic of the Linear layers (fixed at load).
    public let precision: ComputePrecision
    let weights: BertWeights
    private let lock = NSLock()
    private let workspace = BertWorkspace()

    /// Loads `config.json` and `model.safetensors` from a Hugging Face model directory, its Linear weights stored for
    /// `precision`. Throws ``ModelLoadError`` naming the file, key or tensor at fault, or
    /// ``ModelLoadError/unsupportedPrecision(_:reason:)`` (checked first).
    public convenience init(directory: URL, precision: ComputePrecision = .fp32,
                            logger: Logger = Logger(label: "qanchor.model")) throws {
        let (configuration, weights) = try BertWeights.load("BERT encoder", directory: directory, precision: precision, logger: logger)
        self.init(configuration: configuration, precision: precision, weights: weights)
    }

    /// An encoder with deterministic random weights of the given shape (benchmarks), stored for `precision`.
    /// Throws ``ModelLoadError/unsupportedPrecision(_:reason:)`` (never for fp32).
    public convenience init(randomWeights configuration: BertConfiguration, seed: UInt64 = 1,
                            precision: ComputePrecision = .fp32) throws {
        self.init(configuration: configuration, precision: precision,
                  weights: try BertWeights.random(configuration, seed: seed, precision: precision))
    }

    init(configuration: BertConfiguration, precision: ComputePrecision, weights: BertWeights) {
        self.configuration = configuration
        self.precision = precision
        self.weights = weights
    }

    /// Bytes of weights held (fp32, or bf16-packed Linear matrices with fp32 embeddings, norms and biases).
    public var weightBytes: Int { weights.byteCount }

    /// Bytes of workspace currently held (grows to the largest batch seen).
    public var workspaceBytes: Int { lock.withLock { workspace.byteCount } }

    /// The [CLS] vector (`hiddenSize` floats) of each text. Each text is a sequence of token ids starting with
    /// [CLS] (token type 0 everywhere), at most `maxPositions` long.
    /// Throws ``ModelInputError`` for an empty text, an id outside the vocabulary or a text that is too long.
    public func encodeCLS(_ texts: [[Int32]]) throws -> [[Float]] {
        try validate(texts)
        if texts.isEmpty { return [] }
        return lock.withLock { forward(texts) }
    }

    private func validate(_ texts: [[Int32]]) throws {
        let c = configuration
        for (t, ids) in texts.enumerated() {
            if ids.isEmpty { throw ModelInputError.emptySequence(index: t) }
            if ids.count > c.maxPositions {
                throw ModelInputError.sequenceTooLong(sequence: t, length: ids.count, maximum: c.maxPositions)
            }
            for (p, id) in ids.enumerated() where id < 0 || Int(id) >= c.vocabularySize {
                throw ModelInputError.tokenOutOfRange(sequence: t, position: p, id: Int(id), vocabularySize: c.vocabularySize)
            }
        }
    }

    // MARK: forward pass

    private func forward(_ texts: [[Int32]]) -> [[Float]] {
        let c = configuration, d = c.hiddenSize, f = c.intermediateSize
        let n = texts.reduce(0) { $0 + $1.count }, maxLength = texts.map(\.count).max() ?? 0
        let offsets = texts.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let ws = workspace, threads = BLAS.threads
        let x = ws.x.reserve(n * d), qkv = ws.qkv.reserve(n * 3 * d), ctx = ws.ctx.reserve(n * d)
        let h = ws.h.reserve(n * d), inter = ws.inter.reserve(n * f), scores = ws.scores.reserve(maxLength * maxLength)

        // Embeddings: x = (word[id] + type[0]) + position[p], then LayerNorm.
        for (t, ids) in texts.enumerated() {
            for (p, id) in ids.enumerated() {
                let row = x + (offsets[t] + p) * d
                row.update(from: weights.wordEmbeddings.data + Int(id) * d, count: d)
                add(weights.tokenTypeEmbeddings.data, into: row, count: d)
                add(weights.positionEmbeddings.data + p * d, into: row, count: d)
            }
        }
        layerNorm(x, rows: n, d: d, weight: weights.embeddingNormWeight.data, bias: weights.embeddingNormBias.data,
                  eps: c.layerNormEps, into: x)

        for (l, lw) in weights.layers.enumerated() {
            let last = l == c.layers - 1
            linear(x, rows: n, inFeatures: d, weight: lw.qkvWeight, bias: lw.qkvBias, into: qkv,
                   scratch: ws.packedInput, threads: threads)
            // In the last layer only the [CLS] row of each text is needed: one query per text.
            let rows = last ? texts.count : n
            for (t, ids) in texts.enumerated() {
                let o = offsets[t], queries = last ? 1 : ids.count, outRow = last ? t : o
                bidirectionalAttention(qkv: qkv + o * 3 * d, queries: queries, keys: ids.count, c: c,
                                       scores: scores, out: ctx + outRow * d)
            }
            // Residual input rows for the rest of the block (all rows, or the [CLS] rows gathered).
            if last { for t in 0..<texts.count { (h + t * d).update(from: x + offsets[t] * d, count: d) } }
            else { h.update(from: x, count: n * d) }
            // h = LayerNorm((ctx · Woᵀ + bo) + h);  x = LayerNorm((gelu(h · Wiᵀ + bi) · Wfᵀ + bf) + h)
            linear(ctx, rows: rows, inFeatures: d, weight: lw.attentionOutWeight, bias: nil, into: x,
                   scratch: ws.packedInput, threads: threads)
            biasResidualLayerNorm(x, bias: lw.attentionOutBias.data, residual: h, rows: rows, d: d,
                                  weight: lw.attentionNormWeight.data, normBias: lw.attentionNormBias.data,
                                  eps: c.layerNormEps, into: h, threads: threads)
            linear(h, rows: rows, inFeatures: d, weight: lw.intermediateWeight, bias: nil, into: inter,
                   scratch: ws.packedInput, threads: threads)
            biasGELU(inter, bias: lw.intermediateBias.data, rows: rows, f: f, threads: threads)
            linear(inter, rows: rows, inFeatures: f, weight: lw.outputWeight, bias: nil, into: x,
                   scratch: ws.packedInput, threads: threads)
            biasResidualLayerNorm(x, bias: lw.outputBias.data, residual: h, rows: rows, d: d,
                                  weight: lw.outputNormWeight.data, normBias: lw.outputNormBias.data,
                                  eps: c.layerNormEps, into: x, threads: threads)
        }
        return (0..<texts.count).map { t in Array(UnsafeBufferPointer(start: x + t * d, count: d)) }
    }
}

/// Self-attention of one text, all heads, no mask (the text's own tokens only):
/// for each head h: S = (Q_h K_hᵀ) / √hd  [queries, keys];  P = softmax_rows(S);  out_h = P V_h.
/// `qkv` points at the text's first row of the fused `[rows, 3d]` projection (Q | K | V); the first `queries` rows
/// are the queries; `out` rows have stride d.
private func bidirectionalAttention(qkv: UnsafeMutablePointer<Float>, queries: Int, keys: Int, c: BertConfiguration,
                                    scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
    let d = c.hiddenSize, hd = c.headDim, ld = 3 * d
    let scale = 1 / Float(hd).squareRoot()
    for h in 0..<c.heads {
        let q = qkv + h * hd, k = qkv + d + h * hd, v = qkv + 2 * d + h * hd
        sgemm(m: queries, n: keys, k: hd, a: q, lda: ld, b: k, ldb: ld, bTransposed: true,
              c: scores, ldc: keys, alpha: scale)
        for i in 0..<queries { softmaxRow(scores + i * keys, valid: keys, width: keys) }
        sgemm(m: queries, n: hd, k: keys, a: scores, lda: keys, b: v, ldb: ld, bTransposed: false,
              c: out + h * hd, ldc: d)
    }
}

/// Grow-only intermediates of one ``BertEncoder``: x, qkv, ctx, h `[tokens, ·]`, inter `[tokens, F]`, scores `[L, L]`,
/// and the bf16-packed input of the current Linear (bf16 precision only).
final class BertWorkspace: @unchecked Sendable {
    let x = Scratch(), qkv = Scratch(), ctx = Scratch(), h = Scratch(), inter = Scratch(), scores = Scratch()
    let packedInput = Scratch()
    var byteCount: Int { [x, qkv, ctx, h, inter, scores, packedInput].reduce(0) { $0 + $1.byteCount } }
}
