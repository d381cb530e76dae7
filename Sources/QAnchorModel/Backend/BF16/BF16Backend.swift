/// The bf16 backend: Linear weights rounded to bf16 (nearest even) and pre-packed at load, activations rounded to
/// bf16 per product, products accumulated in fp32 by the engine's AVX512-BF16 kernel (`CQAnchorKernels`); the token
/// embedding table stored in bf16. See ``ComputePrecision/bf16`` for the accuracy and the CPU it needs.
///
/// Threading: a stateless value.
struct BF16Backend: ComputeBackend {
    func linearWeight(_ weight: Tensor, threads: Int) -> any LinearWeight { BF16PackedWeight(weight, threads: threads) }
    func embeddingTable(_ table: Tensor) -> EmbeddingTable { EmbeddingTable(table, storage: .bf16) }
    var convertsWeights: Bool { true }
}
