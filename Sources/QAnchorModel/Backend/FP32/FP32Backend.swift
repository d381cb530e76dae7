/// The default backend: weights kept in fp32 as loaded, products through OpenBLAS `sgemm` (the precision the
/// numerical contract is stated for: docs/engine.md).
///
/// Threading: a stateless value.
struct FP32Backend: ComputeBackend {
    func linearWeight(_ weight: Tensor, threads: Int) -> any LinearWeight { FP32LinearWeight(weight) }
    func embeddingTable(_ table: Tensor) -> EmbeddingTable { EmbeddingTable(table, storage: .fp32) }
    var convertsWeights: Bool { false }
}

/// An fp32 Linear weight `[out, in]`, passed to `sgemm` as-is (PyTorch's layout is sgemm's transposed B).
///
/// Threading: immutable, shared read-only.
struct FP32LinearWeight: LinearWeight {
    let matrix: Tensor

    init(_ matrix: Tensor) {
        precondition(matrix.shape.count == 2, "a Linear weight is a matrix")
        self.matrix = matrix
    }

    var outFeatures: Int { matrix.shape[0] }
    var inFeatures: Int { matrix.shape[1] }
    var byteCount: Int { matrix.count * MemoryLayout<Float>.stride }

    /// One `sgemm` (OpenBLAS's own threads; `threads` and `scratch` are unused).
    func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                  scratch: Scratch, threads: Int) {
        sgemm(m: rows, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: matrix.data, ldb: inFeatures,
              bTransposed: true, c: y, ldc: outFeatures, beta: accumulate ? 1 : 0)
    }
}
