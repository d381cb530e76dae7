extension Tensor {
    /// A tensor of uniform values in [−scale, scale) from a seeded xorshift generator (benchmarks use random weights
    /// of the real shapes; the values only need to be deterministic and well-scaled).
    public static func random(shape: [Int], scale: Float, seed: UInt64) -> Tensor {
        let t = Tensor(zeros: shape)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<t.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let unit = Float(state >> 40) * 0x1p-24          // [0, 1)
            t.data[i] = (2 * unit - 1) * scale
        }
        return t
    }

    /// A tensor filled with `value`.
    public static func filled(shape: [Int], value: Float) -> Tensor {
        let t = Tensor(zeros: shape)
        t.data.update(repeating: value, count: t.count)
        return t
    }

    /// Rows of several `[r_i, c]` tensors stacked into one `[Σ r_i, c]` tensor (used to fuse q/k/v and gate/up).
    static func concatenatingRows(_ parts: [Tensor]) -> Tensor {
        let columns = parts[0].shape.count == 1 ? 1 : parts[0].columns
        let rows = parts.map { $0.shape.count == 1 ? $0.count : $0.rows }.reduce(0, +)
        let out = Tensor(zeros: parts[0].shape.count == 1 ? [rows] : [rows, columns])
        var offset = 0
        for p in parts { (out.data + offset).update(from: p.data, count: p.count); offset += p.count }
        return out
    }
}
