import CQAnchorKernels

/// The matrix of a Linear layer (`[out, in]`, PyTorch layout) in the form its ``ComputePrecision`` multiplies:
/// an fp32 tensor passed to `sgemm` as-is, or a bf16 pre-packed weight for the engine's AVX512-BF16 kernel.
///
/// Threading: immutable after loading; shared read-only.
enum LinearWeight: Sendable {
    case fp32(Tensor)
    case bf16(BF16PackedWeight)

    /// Stores `weight` for `precision` (bf16: packs it; the fp32 tensor can then be dropped).
    init(_ weight: Tensor, precision: ComputePrecision, threads: Int) {
        switch precision {
        case .fp32: self = .fp32(weight)
        case .bf16: self = .bf16(BF16PackedWeight(weight, threads: threads))
        }
    }

    var outFeatures: Int {
        switch self {
        case .fp32(let t): t.shape[0]
        case .bf16(let w): w.outFeatures
        }
    }

    /// Bytes held.
    var byteCount: Int {
        switch self {
        case .fp32(let t): t.count * MemoryLayout<Float>.stride
        case .bf16(let w): w.byteCount
        }
    }
}

/// Returns heap pages freed while packing (the fp32 copies of each matrix) to the OS, so that a bf16 model's resident
/// size reflects the packed weights rather than the malloc arena's high-water mark (glibc's `malloc_trim`; a no-op
/// elsewhere).
func releaseFreedHeapPages() {
    qa_release_free_heap_pages()
}
