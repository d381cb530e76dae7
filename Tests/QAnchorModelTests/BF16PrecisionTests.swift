import Foundation
import Testing
@testable import QAnchorModel

/// The opt-in bf16 compute precision: its rounding, its GEMM kernel against a naive product of the same rounded
/// inputs (tight: only the fp32 summation order differs), and the whole models against the fp32 transformers goldens
/// with the looser bound documented in docs/engine.md (cosine ≥ 0.999, max-abs ≤ 0.1 per vector).
/// On a CPU without AVX512_BF16 each test checks instead that asking for bf16 is a clear load error.
@Suite struct BF16PrecisionTests {
    static let goldenCosine = 0.999
    static let goldenMaxAbs = 0.1

    /// Round-to-nearest-even by comparing the two neighbouring bf16 values (an independent formulation).
    static func nearestBF16(_ x: Float) -> Float {
        let down = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
        let up = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
        let toDown = abs(Double(x) - Double(down)), toUp = abs(Double(up) - Double(x))
        if toDown != toUp { return toDown < toUp ? down : up }
        return (x.bitPattern >> 16) & 1 == 0 ? down : up
    }

    @Test func supportMatchesTheCPUFlagsTheKernelNeeds() throws {
        try ComputePrecision.fp32.checkSupported()
        #expect(ComputePrecision(rawValue: "bf16") == .bf16 && ComputePrecision(rawValue: "fp32") == .fp32)
        #expect(ComputePrecision(rawValue: "BF16") == nil)
        // Independent of the runtime's cpuid check: the kernel needs avx512f, avx512bw and avx512_bf16 (Linux flags).
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) {
            let flags = Set(line.split(separator: " ").map(String.init))
            let expected = flags.isSuperset(of: ["avx512f", "avx512bw", "avx512_bf16"])
            #expect(ComputePrecision.bf16.isSupported == expected, "cpuinfo flags say \(expected)")
        }
        if ComputePrecision.bf16.isSupported {
            try ComputePrecision.bf16.checkSupported()
        } else {
            do { try ComputePrecision.bf16.checkSupported(); Issue.record("bf16 accepted without AVX512_BF16") } catch {
                #expect("\(error)".contains("bf16") && "\(error)".contains("fp32"), "\(error)")
            }
        }
    }

    @Test func roundingIsNearestEven() {
        var generator = SplitMix(seed: 3)
        for _ in 0..<20_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()) & 0x7EFF_FFFF)   // finite, no overflow
            for v in [x, -x] { #expect(roundedToBF16(v) == Self.nearestBF16(v), "\(v) (bits \(String(v.bitPattern, radix: 16)))") }
        }
        // Exact ties go to the even neighbour; bf16 values are unchanged; NaN stays NaN.
        #expect(roundedToBF16(Float(bitPattern: 0x3F80_8000)) == Float(bitPattern: 0x3F80_0000))
        #expect(roundedToBF16(Float(bitPattern: 0x3F81_8000)) == Float(bitPattern: 0x3F82_0000))
        #expect(roundedToBF16(1.5) == 1.5 && roundedToBF16(-0.375) == -0.375)
        #expect(roundedToBF16(.nan).isNaN)
    }

    /// Shapes cover partial row blocks and panels, odd K, more than one K block (K > 512) and row cache block (M > 120).
    @Test(arguments: [(1, 1, 1), (13, 70, 37), (6, 64, 32), (50, 130, 300), (7, 200, 72), (130, 70, 601)])
    func gemmMatchesNaiveProductOfRoundedInputs(shape: (m: Int, n: Int, k: Int)) throws {
        guard ComputePrecision.bf16.isSupported else { return expectUnsupported() }
        let (m, n, k) = shape
        let x = Tensor.random(shape: [m, k], scale: 1, seed: 11), w = Tensor.random(shape: [n, k], scale: 1, seed: 12)
        let bias = Tensor.random(shape: [n], scale: 1, seed: 13), start = Tensor.random(shape: [m, n], scale: 1, seed: 14)
        let packed = BF16PackedWeight(w, threads: 2)
        let scratch = Scratch()
        let y = Tensor(zeros: [m, n]), z = Tensor(zeros: [m, n])
        bf16Linear(x.data, rows: m, weight: packed, into: y.data, accumulate: false, scratch: scratch, threads: 2)
        z.data.update(from: start.data, count: m * n)
        linear(x.data, rows: m, inFeatures: k, weight: packed, bias: bias, into: z.data, accumulate: true,
               scratch: scratch, threads: 2)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let term = Double(Self.nearestBF16(x.data[i * k + p])) * Double(Self.nearestBF16(w.data[j * k + p]))
                    sum += term; magnitude += abs(term)
                }
                let tolerance = 1e-5 * magnitude + 1e-30
                worst = max(worst, abs(Double(y.data[i * n + j]) - sum) / tolerance)
                let accumulated = sum + Double(start.data[i * n + j]) + Double(bias.data[j])
                worst = max(worst, abs(Double(z.data[i * n + j]) - accumulated) / (tolerance + 1e-6 * abs(accumulated)))
            }
        }
        #expect(worst <= 1, "\(m)×\(n)×\(k): error \(worst) × the bound (1e-5 relative to Σ|a·w|)")
    }

    @Test(arguments: ["bert-tiny", "bert-tiny-f16"])
    func bertCLSVectorsWithinBF16Bound(model: String) throws {
        guard ComputePrecision.bf16.isSupported else { return expectUnsupported() }
        let meta = try EngineGolden.json("bert_goldens.json")
        let sequences = try #require(meta["sequences"] as? [[Int]]).map { $0.map(Int32.init) }
        let cases = try #require(meta["cases"] as? [[String: String]])
        let key = try #require(cases.first { $0["model"] == model }?["cls"])
        let want = try EngineGolden.rows(SafeTensorsFile(url: EngineGolden.url("bert_goldens.safetensors")), key)
        let encoder = try BertEncoder(directory: EngineGolden.url(model), precision: .bf16)
        #expect(encoder.precision == .bf16)
        let got = try encoder.encodeCLS(sequences)
        expectWithinBF16Bound(got, want, "\(model) bf16")
        // The bound is not vacuous: bf16 differs from the fp32 engine, which meets the 1e-4 contract.
        let fp32 = try BertEncoder(directory: EngineGolden.url(model)).encodeCLS(sequences)
        #expect(zip(got, fp32).contains { compareVectors($0, $1).maxAbs > 1e-4 })
        // Batching does not change a text's result: rows are computed independently.
        for (i, s) in sequences.enumerated() { #expect(try encoder.encodeCLS([s]) == [got[i]], "\(model) bf16 alone #\(i)") }
    }

    @Test(arguments: ["qwen2-tiny", "qwen2-tiny-bf16"])
    func qwen2HiddenStatesWithinBF16Bound(model: String) throws {
        guard ComputePrecision.bf16.isSupported else { return expectUnsupported() }
        let g = try Qwen2GoldenCase.load(model)
        let d = try Qwen2Decoder(directory: EngineGolden.url(model), precision: .bf16)
        #expect(d.precision == .bf16 && d.weightBytes < g.decoder.weightBytes)
        let long = try #require(g.raw["long"] as? [String: Any])
        let items = try g.items(long["items"])
        let want = try EngineGolden.rows(g.goldens, try #require(long["hidden"] as? String))
        let got = try d.hiddenStates(try d.embed(items), outputPositions: Array(0..<items.count))
        expectWithinBF16Bound(got, want, "\(model) bf16 long")

        // Preamble → user prefix → batched suffixes against the full passes, as for fp32.
        let preamble = try d.prefill(try d.embed(try g.items(g.raw["preamble"])))
        let users = try #require(g.raw["users"] as? [Any]).map { try d.embed(try g.items($0)) }
        let suffixInputs = try #require(g.raw["suffixes"] as? [Any]).map { try d.embed(try g.items($0)) }
        let full = try #require(g.raw["full"] as? [[String: Any]])
        for (u, userInput) in users.enumerated() {
            let state = try d.prefill(userInput, after: preamble)
            let got = try d.runSuffixes(suffixInputs.map { DecoderSuffix(input: $0, outputPositions: Array(0..<$0.count)) },
                                        after: state)
            for entry in full where entry["user"] as? Int == u {
                let s = try #require(entry["suffix"] as? Int)
                let reference = try EngineGolden.rows(g.goldens, try #require(entry["hidden"] as? String))
                expectWithinBF16Bound(got[s], Array(reference[state.length...]), "\(model) bf16 user \(u) suffix \(s)")
            }
        }
    }

    @Test func bundleTextTowerWithinBF16Bound() throws {
        guard ComputePrecision.bf16.isSupported else { return expectUnsupported() }
        let model = try QAnchorEmbedder(bundle: QAnchorEmbedderTests.bundle, precision: .bf16)
        #expect(model.precision == .bf16)
        let cases = try #require(try QAnchorEmbedderTests.json("text_tower.json") as? [[String: Any]])
        #expect(!cases.isEmpty)
        for c in cases {
            let (embedding, hidden) = try model.embedText(try #require(c["text"] as? String))
            expectWithinBF16Bound([hidden], [QAnchorEmbedderTests.floats(c["hidden"])], "text tower hidden (bf16)")
            expectWithinBF16Bound([embedding], [QAnchorEmbedderTests.floats(c["embedding"])], "text tower embedding (bf16)")
        }
    }

    @Test func randomWeightsUseTheSameValuesInBothPrecisions() throws {
        guard ComputePrecision.bf16.isSupported else { return expectUnsupported() }
        var c = Qwen2Configuration.qwen25_0_5B
        c.layers = 2; c.vocabularySize = 50
        let fp32 = try Qwen2Decoder(randomWeights: c, seed: 5), bf16 = try Qwen2Decoder(randomWeights: c, seed: 5, precision: .bf16)
        let items: [DecoderInputItem] = (0..<20).map { .token(Int32($0)) }
        let a = try fp32.hiddenStates(fp32.embed(items), outputPositions: [0, 19])
        let b = try bf16.hiddenStates(bf16.embed(items), outputPositions: [0, 19])
        for (x, y) in zip(a, b) { #expect(compareVectors(x, y).cosine >= Self.goldenCosine) }
        #expect(bf16.weightBytes < fp32.weightBytes * 3 / 4)
    }

    private func expectWithinBF16Bound(_ got: [[Float]], _ want: [[Float]], _ what: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.count, "\(what): \(got.count) vectors, expected \(want.count)", sourceLocation: sourceLocation)
        let worst = worstDifference(got, want)
        #expect(worst.cosine >= Self.goldenCosine && worst.maxAbs <= Self.goldenMaxAbs,
                "\(what): worst cosine \(worst.cosine), max-abs \(worst.maxAbs) over \(got.count) vectors",
                sourceLocation: sourceLocation)
    }

    private func expectUnsupported() {
        #expect(!ComputePrecision.bf16.isSupported)
        #expect(throws: ModelLoadError.self) { try BertEncoder(directory: EngineGolden.url("bert-tiny"), precision: .bf16) }
        #expect(throws: ModelLoadError.self) { try Qwen2Decoder(directory: EngineGolden.url("qwen2-tiny"), precision: .bf16) }
        #expect(throws: QAnchorModelError.self) { try QAnchorEmbedder(bundle: QAnchorEmbedderTests.bundle, precision: .bf16) }
    }
}

/// A small seeded generator (SplitMix64) for test inputs.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
