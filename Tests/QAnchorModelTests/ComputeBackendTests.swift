import Foundation
import Synchronization
import Testing
@testable import QAnchorModel

/// The backend seam: a backend defined outside the model folders runs BERT and Qwen2 unchanged.
@Suite struct ComputeBackendTests {
    /// fp32 products that count their calls: a stand-in for a new backend (a new precision or device would convert
    /// the weights in `linearWeight` and compute differently in `multiply`).
    struct CountingBackend: ComputeBackend {
        let calls = Counter()
        func linearWeight(_ weight: Tensor, threads: Int) -> any LinearWeight { Weight(inner: FP32LinearWeight(weight), calls: calls) }
        func embeddingTable(_ table: Tensor) -> EmbeddingTable { EmbeddingTable(table, storage: .fp32) }
        var convertsWeights: Bool { false }

        struct Weight: LinearWeight {
            let inner: FP32LinearWeight, calls: Counter
            var outFeatures: Int { inner.outFeatures }
            var inFeatures: Int { inner.inFeatures }
            var byteCount: Int { inner.byteCount }
            func multiply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
                          scratch: Scratch, threads: Int) {
                calls.value.add(1, ordering: .relaxed)
                inner.multiply(x, rows: rows, into: y, accumulate: accumulate, scratch: scratch, threads: threads)
            }
        }
    }

    final class Counter: Sendable { let value = Atomic<Int>(0) }

    @Test func bertOnAnotherBackendComputesThroughIt() throws {
        let directory = EngineGolden.url("bert-tiny")
        let (configURL, file) = try ModelDirectory.open(directory)
        let shape = try BertConfiguration(contentsOf: configURL)
        let backend = CountingBackend()
        let encoder = BertEncoder(configuration: shape, precision: .fp32,
                                  weights: try BertWeights(file: file, shape: shape, maker: WeightMaker(backend: backend)))
        let reference = try BertEncoder(directory: directory)
        let texts: [[Int32]] = [[1, 5, 9, 2], [1, 7, 2]]
        #expect(try encoder.encodeCLS(texts) == reference.encodeCLS(texts))
        // Four Linear layers per BERT layer, every one through the backend.
        #expect(backend.calls.value.load(ordering: .relaxed) == 4 * shape.layers)
    }

    @Test func qwen2OnAnotherBackendComputesThroughIt() throws {
        var shape = Qwen2Configuration.qwen25_0_5B
        shape.layers = 2; shape.vocabularySize = 50; shape.hiddenSize = 128; shape.intermediateSize = 256
        shape.heads = 4; shape.kvHeads = 2
        let backend = CountingBackend()
        var maker = WeightMaker(backend: backend, seed: 5)
        let decoder = Qwen2Decoder(configuration: shape, precision: .fp32, weights: Qwen2Weights(randomFor: shape, maker: &maker))
        let reference = try Qwen2Decoder(randomWeights: shape, seed: 5)
        let items: [DecoderInputItem] = (0..<12).map { .token(Int32($0)) }
        #expect(try decoder.hiddenStates(decoder.embed(items), outputPositions: [0, 11])
                == reference.hiddenStates(reference.embed(items), outputPositions: [0, 11]))
        #expect(backend.calls.value.load(ordering: .relaxed) == 4 * shape.layers)
    }
}
