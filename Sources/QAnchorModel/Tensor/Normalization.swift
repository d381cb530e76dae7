// Row-wise normalisations, as PyTorch computes them in fp32.

/// RMSNorm (Qwen2RMSNorm): y = w ⊙ x / sqrt(mean(x²) + eps), per row of `x: [rows, d]`. `y` may alias `x`.
func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, d: Int, weight: UnsafePointer<Float>, eps: Float,
             into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * d, yr = y + r * d
        var acc = Float16x(repeating: 0)
        var i = 0
        while i + 16 <= d { let v = loadVector(xr + i); acc += v * v; i += 16 }
        if i < d { let v = loadPartial(xr + i, d - i); acc += v * v }
        let scale = 1 / (acc.sum() / Float(d) + eps).squareRoot()
        i = 0
        while i + 16 <= d { storeVector(loadVector(weight + i) * (loadVector(xr + i) * scale), yr + i); i += 16 }
        while i < d { yr[i] = weight[i] * (xr[i] * scale); i += 1 }
    }
}

/// LayerNorm: y = (x − μ) / sqrt(σ² + eps) ⊙ w + b, μ and σ² (biased) per row of `x: [rows, d]`. `y` may alias `x`.
func layerNorm(_ x: UnsafePointer<Float>, rows: Int, d: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
               eps: Float, into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let xr = x + r * d, yr = y + r * d
        let mean = sum(xr, d) / Float(d)
        var acc = Float16x(repeating: 0)
        var i = 0
        while i + 16 <= d { let v = loadVector(xr + i) - mean; acc += v * v; i += 16 }
        var tail: Float = 0
        while i < d { let v = xr[i] - mean; tail += v * v; i += 1 }
        let rstd = 1 / ((acc.sum() + tail) / Float(d) + eps).squareRoot()
        i = 0
        while i + 16 <= d {
            let v = (loadVector(xr + i) - mean) * rstd
            storeVector(v * loadVector(weight + i) + loadVector(bias + i), yr + i)
            i += 16
        }
        while i < d { yr[i] = (xr[i] - mean) * rstd * weight[i] + bias[i]; i += 1 }
    }
}

/// BERT's post-LN residual step, fused: y = LayerNorm((x + b) + r) per row, where x is a Linear's output before its
/// bias b and r the residual input (the same order of additions as `addmm` followed by `+ residual`).
/// `x`, `r` and `y` are `[rows, d]`; `y` may alias `x` or `r`. Rows are split over `threads`.
func biasResidualLayerNorm(_ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
                           residual r: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                           weight: UnsafePointer<Float>, normBias: UnsafePointer<Float>, eps: Float,
                           into y: UnsafeMutablePointer<Float>, threads: Int) {
    parallelFor(rows, parts: threads, minimumChunk: 16) { part in
        for row in part {
            let xr = x + row * d, rr = r + row * d
            for i in 0..<d { xr[i] = (xr[i] + bias[i]) + rr[i] }
        }
        layerNorm(x + part.lowerBound * d, rows: part.count, d: d, weight: weight, bias: normBias, eps: eps,
                  into: y + part.lowerBound * d)
    }
}
