import CQAnchorKernels

/// A Linear weight `W [out, in]` rounded to bf16 (nearest even) and packed into the panel layout of the engine's
/// AVX512-BF16 kernel (`CQAnchorKernels/bf16_gemm.c`: panels of 64 output columns, input features in pairs, zero
/// padded). Built once at load from the fp32 weight, which the caller then drops.
///
/// Invariants: `storage` holds `qa_bf16_packed_weight_count(outFeatures, inFeatures)` bf16 values (two per float
/// slot of the buffer) and is never written after `init`. Threading: immutable, shared read-only.
struct BF16PackedWeight: LinearWeight {
    let outFeatures: Int, inFeatures: Int
    /// Raw storage of the packed bf16 values (a `FloatBuffer` for its alignment and huge-page handling).
    let storage: FloatBuffer

    /// Packs `weight` (`[out, in]`), in parallel over panels. Runs on any CPU (plain C conversion).
    init(_ weight: Tensor, threads: Int) {
        precondition(weight.shape.count == 2, "a Linear weight is a matrix")
        outFeatures = weight.shape[0]
        inFeatures = weight.shape[1]
        let count = qa_bf16_packed_weight_count(Int32(outFeatures), Int32(inFeatures))
        storage = FloatBuffer(count: (count + 1) / 2)
        let n = Int32(outFeatures), k = Int32(inFeatures), w = UnsafePointer(weight.data), packed = bf16Base
        parallelFor(panels, parts: threads) { range in
            qa_bf16_pack_weight(w, n, k, k, Int32(range.lowerBound), Int32(range.upperBound), packed)
        }
    }

    /// Panels of 64 output columns.
    var panels: Int { (outFeatures + Int(QA_BF16_COLUMNS_PER_PANEL) - 1) / Int(QA_BF16_COLUMNS_PER_PANEL) }

    /// The packed values.
    var bf16Base: UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(storage.base).assumingMemoryBound(to: UInt16.self)
    }

    /// Bytes held.
    var byteCount: Int { storage.count * MemoryLayout<Float>.stride }

    func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                  scratch: Scratch, threads: Int) {
        bf16Linear(x, rows: rows, weight: self, into: y, accumulate: accumulate, scratch: scratch, threads: threads)
    }
}

/// `y[T, O] (+)= bf16(x[T, I]) · bf16(W)ᵀ` with fp32 accumulation (AVX512-BF16). `x` is rounded and packed into
/// `scratch` first (parallel over 6-row blocks), then `threads` workers claim output panels two at a time.
/// Callers must have checked ``ComputePrecision/bf16``'s support (the kernel uses AVX512-BF16 instructions).
func bf16Linear(_ x: UnsafePointer<Float>, rows: Int, weight: BF16PackedWeight, into y: UnsafeMutablePointer<Float>,
                accumulate: Bool, scratch: Scratch, threads: Int) {
    if rows == 0 { return }
    let m = Int32(rows), k = Int32(weight.inFeatures), n = Int32(weight.outFeatures)
    let count = qa_bf16_packed_input_count(m, k)
    let packed = UnsafeMutableRawPointer(scratch.reserve(count)).assumingMemoryBound(to: UInt32.self)
    let blocks = (rows + Int(QA_BF16_ROWS_PER_BLOCK) - 1) / Int(QA_BF16_ROWS_PER_BLOCK)
    parallelForDynamic(blocks, workers: threads, grain: 8) { range in
        qa_bf16_pack_input(x, m, k, k, Int32(range.lowerBound), Int32(range.upperBound), packed)
    }
    let w = UnsafePointer(weight.bf16Base)
    parallelForDynamic(weight.panels, workers: threads, grain: 2) { range in
        qa_bf16_gemm(packed, m, k, w, n, Int32(range.lowerBound), Int32(range.upperBound), y, n, accumulate ? 1 : 0)
    }
}

/// `value` rounded to the nearest bf16 (ties to even), widened back to fp32: the rounding both the weight packing and
/// (in hardware) the input packing apply.
func roundedToBF16(_ value: Float) -> Float {
    Float(bitPattern: UInt32(qa_bf16_from_float(value)) << 16)
}
