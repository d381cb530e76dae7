/// The authors' `LLMAdapter`: `LayerNorm(E, eps) → Linear(E→E) → GELU (erf) → Linear(E→D)`.
/// Used for every event adapter, the shared modality adapter and the user adapter.
///
/// Immutable after loading; `callAsFunction` allocates its own scratch and may run on any thread.
struct LLMAdapter: Sendable {
    let normWeight: Tensor, normBias: Tensor
    let fc1Weight: Tensor, fc1Bias: Tensor
    let fc2Weight: Tensor, fc2Bias: Tensor
    let eps: Float

    var inputWidth: Int { normWeight.count }
    var outputWidth: Int { fc2Weight.shape[0] }

    /// y[n, D] = fc2(gelu(fc1(layerNorm(x)))) for `rows` rows of `x: [rows, E]` (row-major).
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let e = inputWidth, d = outputWidth
        precondition(x.count == rows * e, "adapter input has the wrong width")
        var normed = [Float](repeating: 0, count: rows * e)
        var hidden = [Float](repeating: 0, count: rows * e)
        var out = [Float](repeating: 0, count: rows * d)
        x.withUnsafeBufferPointer { xp in
            normed.withUnsafeMutableBufferPointer { np in
                layerNorm(xp.baseAddress!, rows: rows, d: e, weight: normWeight.data, bias: normBias.data, eps: eps,
                          into: np.baseAddress!)
            }
        }
        normed.withUnsafeBufferPointer { np in
            hidden.withUnsafeMutableBufferPointer { hp in
                linear(np.baseAddress!, rows: rows, inFeatures: e, weight: fc1Weight, bias: nil, into: hp.baseAddress!)
                biasGELU(hp.baseAddress!, bias: fc1Bias.data, rows: rows, f: e, threads: 1)
            }
        }
        hidden.withUnsafeBufferPointer { hp in
            out.withUnsafeMutableBufferPointer { op in
                linear(hp.baseAddress!, rows: rows, inFeatures: e, weight: fc2Weight, bias: fc2Bias, into: op.baseAddress!)
            }
        }
        return out
    }
}

/// A plain linear layer `y = x · Wᵀ + b` (tabular slot and mean projections).
struct DenseLayer: Sendable {
    let weight: Tensor, bias: Tensor

    /// y[rows, O] for x[rows, I].
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * weight.shape[0])
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                linear(xp.baseAddress!, rows: rows, inFeatures: weight.shape[1], weight: weight, bias: bias,
                       into: op.baseAddress!)
            }
        }
        return out
    }
}

/// The authors' `low_dim_mlp_left`: `Linear(D→hidden) → ReLU → Linear(hidden→output)`, then L2-normalised
/// when the bundle says so.
struct ProjectionHead: Sendable {
    let fc1: DenseLayer, fc2: DenseLayer
    let normalize: Bool

    var outputWidth: Int { fc2.weight.shape[0] }

    /// u[output] for one hidden state h[D].
    func callAsFunction(_ hidden: [Float]) -> [Float] {
        var y = fc1(hidden, rows: 1)
        for i in y.indices where y[i] < 0 { y[i] = 0 }
        var u = fc2(y, rows: 1)
        if normalize {
            // F.normalize: u / max(‖u‖₂, 1e-12)
            var sumSquares: Double = 0
            for v in u { sumSquares += Double(v) * Double(v) }
            let norm = Float(max(sumSquares.squareRoot(), 1e-12))
            for i in u.indices { u[i] /= norm }
        }
        return u
    }
}
