/// Grow-only intermediates of one ``Qwen2Decoder`` (sized by the largest call so far; steady-state calls allocate
/// nothing): residual stream x and its norm `[T, d]`, fused q|k|v `[T, qW + 2kvW]`, attention output `[T, qW]`,
/// gate|up `[T, 2F]`, SwiGLU output `[T, F]`, suffix K/V `[T, kvW]`, attention scratch
/// (stacked queries/outputs `[T·G, hd]`, scores `[block·G, P + T]`), RoPE cos/sin, the bf16-packed input of the
/// current Linear (bf16 precision only).
///
/// Threading: used only under the decoder's lock.
final class Qwen2Workspace: @unchecked Sendable {
    let x = Scratch(), normed = Scratch(), qkv = Scratch(), attention = Scratch(), gateUp = Scratch(), hidden = Scratch()
    let keys = Scratch(), values = Scratch(), scores = Scratch(), cos = Scratch(), sin = Scratch()
    let stackedQueries = Scratch(), stackedOutputs = Scratch(), outputRows = Scratch(), outputAttention = Scratch()
    let packedInput = Scratch()
    var byteCount: Int {
        [x, normed, qkv, attention, gateUp, hidden, keys, values, scores, cos, sin, stackedQueries, stackedOutputs, outputRows,
         outputAttention, packedInput].reduce(0) { $0 + $1.byteCount }
    }
}
