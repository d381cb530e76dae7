import CQAnchorKernels

/// A compute backend: the form a model's Linear weights and token-embedding table take once loaded, and the product
/// with those weights — the one seam between the models (BERT, Qwen2) and the arithmetic of their matrices, in the
/// spirit of ggml's backend table.
///
/// Today's backends: ``FP32Backend`` (OpenBLAS `sgemm` on the fp32 weights) and ``BF16Backend`` (weights rounded to
/// bf16 and pre-packed for the engine's AVX512-BF16 kernel). A new precision (int8) or device is a new folder under
/// `Backend/` with one type conforming to `ComputeBackend` and one to ``LinearWeight``, plus a ``ComputePrecision``
/// case that names it; the models do not change. Attention, norms and activations stay on the shared fp32 CPU code.
///
/// Threading: backends are stateless values; their weights are immutable after loading and shared read-only.
protocol ComputeBackend: Sendable {
    /// Stores a Linear layer's matrix `weight` (`[out, in]`, PyTorch layout) in this backend's form, using up to
    /// `threads` threads. The caller may drop `weight` afterwards.
    func linearWeight(_ weight: Tensor, threads: Int) -> any LinearWeight

    /// Stores a token-embedding table `[V, d]` in this backend's form.
    func embeddingTable(_ table: Tensor) -> EmbeddingTable

    /// Whether loading converts weights (so the fp32 copies freed while loading are worth returning to the OS).
    var convertsWeights: Bool { get }
}

/// A Linear layer's matrix `W [out, in]` in a backend's form, and the product with it.
///
/// Invariants: immutable after creation. Threading: shared read-only; ``multiply(_:rows:into:accumulate:scratch:threads:)``
/// may be called from one thread at a time per `scratch`.
protocol LinearWeight: Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    /// Bytes held.
    var byteCount: Int { get }

    /// `y[T, O] = x[T, I] · Wᵀ` (row-major, no padding), or `y += x · Wᵀ` with `accumulate`. `scratch` is the
    /// caller's grow-only buffer for whatever the backend converts the input to; `threads` workers may be used.
    func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                  scratch: Scratch, threads: Int)
}

extension ComputePrecision {
    /// The backend that computes in this precision.
    var backend: any ComputeBackend {
        switch self {
        case .fp32: FP32Backend()
        case .bf16: BF16Backend()
        }
    }
}

/// Linear layer on any backend: `y[T, O] = x[T, I] · Wᵀ + b` with an optional bias `b: [O]`; with `accumulate`, adds
/// into `y` instead (residual connections). The bias rows are written (or added) first and the product accumulated
/// into them — the order PyTorch's `addmm` uses, the same on every backend.
func linear(_ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: any LinearWeight, bias: Tensor?,
            into y: UnsafeMutablePointer<Float>, accumulate: Bool = false, scratch: Scratch, threads: Int) {
    precondition(weight.inFeatures == inFeatures, "Linear weight has \(weight.inFeatures) input features, not \(inFeatures)")
    if let bias {
        let outFeatures = weight.outFeatures
        for r in 0..<rows {
            let row = y + r * outFeatures
            if accumulate { add(bias.data, into: row, count: outFeatures) } else { row.update(from: bias.data, count: outFeatures) }
        }
    }
    weight.multiply(x, rows: rows, into: y, accumulate: accumulate || bias != nil, scratch: scratch, threads: threads)
}

/// Returns heap pages freed while converting weights (the fp32 copies of each matrix) to the OS, so that a converted
/// model's resident size reflects the converted weights rather than the malloc arena's high-water mark (glibc's
/// `malloc_trim`; a no-op elsewhere).
func releaseFreedHeapPages() {
    qa_release_free_heap_pages()
}
