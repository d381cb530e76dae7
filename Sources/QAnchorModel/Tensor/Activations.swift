// Element-wise activations.

/// SwiGLU for Qwen2's MLP over `rows` rows of `gu: [rows, 2F]` (gate in columns [0, F), up in [F, 2F)):
/// h[r, j] = silu(gate) · up = gate / (1 + exp(−gate)) · up, written into `h: [rows, F]`.
func swiGLU(_ gu: UnsafePointer<Float>, rows: Int, f: Int, into h: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let gate = gu + r * 2 * f, up = gate + f, out = h + r * f
        var i = 0
        while i + 16 <= f {
            let g = loadVector(gate + i)
            storeVector(g / (1 + vexp(-g)) * loadVector(up + i), out + i)
            i += 16
        }
        if i < f {
            let n = f - i, g = loadPartial(gate + i, n)
            storePartial(g / (1 + vexp(-g)) * loadPartial(up + i, n), out + i, n)
        }
    }
}

/// Bias then GELU in the exact (erf) form of torch.nn.functional.gelu, gelu(v) = v · ½ · (1 + erf(v / √2)), in place over `rows` rows of `x: [rows, f]`: x = gelu(x + b). Rows are split over `threads`.
func biasGELU(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, f: Int, threads: Int) {
    parallelFor(rows, parts: threads, minimumChunk: 16) { part in
        for row in part {
            let xr = x + row * f
            var i = 0
            while i + 16 <= f {
                let v = loadVector(xr + i) + loadVector(bias + i)
                storeVector(v * 0.5 * (1 + verf(v * 0.70710678118654752)), xr + i)
                i += 16
            }
            if i < f {
                let n = f - i, v = loadPartial(xr + i, n) + loadPartial(bias + i, n)
                storePartial(v * 0.5 * (1 + verf(v * 0.70710678118654752)), xr + i, n)
            }
        }
    }
}
