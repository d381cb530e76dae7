import Dispatch
import Foundation
import Logging

/// Makes a model's weights in the form of its ``ComputeBackend``: Linear matrices converted as soon as they are read
/// (so one layer's fp32 copies at a time are alive while loading), or random values of the real shapes (benchmarks).
/// The part of loading every architecture shares.
///
/// Threading: used by one loading call.
struct WeightMaker {
    let backend: any ComputeBackend
    let threads: Int
    private var seed: UInt64

    init(backend: any ComputeBackend, seed: UInt64 = 0) {
        self.backend = backend
        threads = BLAS.threads
        self.seed = seed
    }

    init(precision: ComputePrecision, seed: UInt64 = 0) {
        self.init(backend: precision.backend, seed: seed)
    }

    /// A Linear matrix `[out, in]` in the backend's form.
    func linear(_ weight: Tensor) -> any LinearWeight { backend.linearWeight(weight, threads: threads) }

    /// One Linear matrix from several stacked by rows (q/k/v, gate/up), so that one product computes them all.
    func linear(fusing parts: [Tensor]) -> any LinearWeight { linear(.concatenatingRows(parts)) }

    /// A token-embedding table in the backend's form.
    func embeddingTable(_ table: Tensor) -> EmbeddingTable { backend.embeddingTable(table) }

    /// Deterministic uniform values in [−scale, scale) (each call a new seed).
    mutating func random(_ shape: [Int], scale: Float) -> Tensor {
        seed &+= 1
        return .random(shape: shape, scale: scale, seed: seed)
    }

    /// A random Linear matrix in the backend's form (the same values for every backend; it converts them).
    mutating func randomLinear(_ shape: [Int], scale: Float) -> any LinearWeight { linear(random(shape, scale: scale)) }

    /// Ends a load: returns the freed fp32 copies to the OS when the backend converted the weights.
    func finish() {
        if backend.convertsWeights { releaseFreedHeapPages() }
    }
}

/// The shape of an architecture, read from a Hugging Face `config.json`.
protocol ModelShape: Sendable {
    var layers: Int { get }
    var hiddenSize: Int { get }
    /// Reads `config.json`. Throws ``ModelLoadError/badConfig(file:key:detail:)``.
    init(contentsOf url: URL) throws
}

/// All weights of one architecture, in a backend's form.
protocol ModelWeights: Sendable {
    associatedtype Shape: ModelShape
    /// Loads and checks every tensor of `file` (names, shapes, nothing left over), storing matrices with `maker`.
    init(file: SafeTensorsFile, shape: Shape, maker: WeightMaker) throws
    /// Random weights of the shape (benchmarks), scaled to keep activations O(1).
    init(randomFor shape: Shape, maker: inout WeightMaker)
    /// Total bytes held.
    var byteCount: Int { get }
}

extension ModelWeights {
    /// Loads a Hugging Face model directory (`config.json` + `model.safetensors`) for `precision` (checked first:
    /// ``ModelLoadError/unsupportedPrecision(_:reason:)``), and logs what was loaded as `what`. Throws
    /// ``ModelLoadError`` naming the file, key or tensor at fault.
    static func load(_ what: String, directory: URL, precision: ComputePrecision, logger: Logger) throws -> (Shape, Self) {
        try precision.checkSupported()
        let start = DispatchTime.now().uptimeNanoseconds
        let (configURL, file) = try ModelDirectory.open(directory)
        let shape = try Shape(contentsOf: configURL)
        let maker = WeightMaker(precision: precision)
        let weights = try Self(file: file, shape: shape, maker: maker)
        maker.finish()
        logger.info("loaded \(what) (\(precision))", metadata: [
            "directory": "\(directory.path)", "layers": "\(shape.layers)", "hidden": "\(shape.hiddenSize)",
            "weight_bytes": "\(weights.byteCount)", "seconds": "\(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)",
        ])
        return (shape, weights)
    }

    /// Deterministic random weights of `shape` for `precision` (benchmarks); throws
    /// ``ModelLoadError/unsupportedPrecision(_:reason:)`` (never for fp32).
    static func random(_ shape: Shape, seed: UInt64, precision: ComputePrecision) throws -> Self {
        try precision.checkSupported()
        var maker = WeightMaker(precision: precision, seed: seed)
        let weights = Self(randomFor: shape, maker: &maker)
        maker.finish()
        return weights
    }
}
