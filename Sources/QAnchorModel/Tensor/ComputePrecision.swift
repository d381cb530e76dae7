import CQAnchorKernels

/// The arithmetic an engine's Linear layers use. Chosen when a model is loaded; fixed for the engine's lifetime.
///
/// - ``fp32``: the default. Weights in fp32, products through OpenBLAS `sgemm`; the numerical contract (goldens at
///   cosine ≥ 0.99999, max-abs ≤ 1e-4 against transformers) is stated and tested for this precision.
/// - ``bf16``: Linear weights converted once at load to bf16 (lossless for bf16 checkpoints such as Qwen2.5) and
///   pre-packed; activations rounded to bf16 (nearest even) per product; products accumulated in fp32 with
///   AVX512-BF16 (`VDPBF16PS`, the engine's own kernel); Qwen2's token embedding table stored in bf16 too. Halves
///   weight memory and roughly doubles the multiply rate. Attention, norms, activations, input vectors and the K/V
///   cache stay fp32. Looser accuracy (see docs/engine.md:
///   cosine ≥ 0.999 on the tiny goldens). Needs a CPU with AVX512_BF16; loading with it elsewhere throws
///   ``ModelLoadError/unsupportedPrecision(_:reason:)``.
///
/// A value type; `Sendable`. Its raw values (`"fp32"`, `"bf16"`) are the configuration spellings.
public enum ComputePrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    case fp32
    case bf16

    /// Whether this CPU can run the precision (`fp32` always; `bf16` needs AVX512F, AVX512BW and AVX512_BF16 with
    /// the OS saving AVX-512 state).
    public var isSupported: Bool {
        switch self {
        case .fp32: true
        case .bf16: ComputePrecision.cpuHasBF16
        }
    }

    /// Throws ``ModelLoadError/unsupportedPrecision(_:reason:)`` unless ``isSupported``.
    public func checkSupported() throws {
        guard isSupported else {
            throw ModelLoadError.unsupportedPrecision(rawValue,
                reason: "this CPU lacks AVX512_BF16 (or AVX512F/BW, or the OS does not enable AVX-512); use fp32")
        }
    }

    public var description: String { rawValue }

    private static let cpuHasBF16 = qa_bf16_supported() != 0
}
