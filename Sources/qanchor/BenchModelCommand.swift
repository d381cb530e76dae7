import ArgumentParser
import Foundation
import QAnchorModel

/// `qanchor bench model`: times the engine on the real model shapes with random weights and prints JSON.
///
/// `--precision` picks the Linear-layer arithmetic (fp32 default, or bf16 on AVX512_BF16 CPUs); with bf16 the run
/// also rebuilds the fp32 model from the same seed afterwards (after the timings and peak RSS are taken) and reports
/// how far the bf16 outputs are from it (`accuracy_vs_fp32`: worst cosine and max-abs). Qwen2 (Qwen2.5-0.5B shape): prefill of `--prefix` positions from embeddings, then `--suffixes` suffixes of
/// `--suffix-length` positions run batched on that cached prefix. BERT (BERT-base shape): `--texts` texts of
/// `--tokens` tokens → [CLS] vectors. Each timing is the best of `--repeat` runs after one warm-up run.
/// `--model all` (the default) runs Qwen2 then BERT in one process, freeing the first before the second and resetting
/// the peak-RSS mark (`/proc/self/clear_refs`) in between, so each model's peak RSS is its own. `ops/bench/model` runs this and
/// the PyTorch peer side by side and prints the ratios.
struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model",
                                                    abstract: "Benchmark the inference engine (JSON on stdout).")

    enum Model: String, ExpressibleByArgument, CaseIterable { case all, qwen2, bert }

    @Option(help: "Which model to run: all, qwen2 or bert.") var model: Model = .all
    @Option(help: "Linear-layer precision: fp32 or bf16 (needs AVX512_BF16).") var precision: ComputePrecision = .fp32
    @Flag(inversion: .prefixedNo, help: "With bf16: compare the outputs with the fp32 model of the same seed.")
    var compareFp32 = true
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Option(help: "Timed runs per measurement (the best is reported).") var `repeat` = 3
    @Option(help: "Qwen2 prefix positions.") var prefix = 800
    @Option(help: "Qwen2 suffixes per batch.") var suffixes = 6
    @Option(help: "Qwen2 positions per suffix.") var suffixLength = 16
    @Option(help: "BERT texts per batch.") var texts = 64
    @Option(help: "BERT tokens per text.") var tokens = 32

    func run() throws {
        BLAS.setThreads(threads)
        var report: [String: Any] = [
            "benchmark": "model", "engine": "qanchor", "precision": precision.rawValue, "threads": BLAS.threads,
            "repeat": self.repeat,
            "cpu": BenchMachine.cpu, "timing": "best of repeat, after one warm-up run",
            "openblas": ["core": BLAS.coreName, "config": BLAS.config, "idle_workers_sleep": BLAS.idleWorkersSleep,
                         "OPENBLAS_CORETYPE": environment("OPENBLAS_CORETYPE"),
                         "OPENBLAS_L2_SIZE": environment("OPENBLAS_L2_SIZE")],
        ]
        // The bf16-vs-fp32 comparisons build fp32 models; they run after every timing and peak-RSS reading, so that
        // their allocations never count towards a model's peak.
        var comparisons: [(model: String, run: () throws -> [String: Any])] = []
        if model != .bert { resetPeakRSS(); report["qwen2"] = try benchQwen2(comparisons: &comparisons) }
        if model != .qwen2 { resetPeakRSS(); report["bert"] = try benchBert(comparisons: &comparisons) }
        for comparison in comparisons {
            guard var body = report[comparison.model] as? [String: Any] else { continue }
            body["accuracy_vs_fp32"] = try comparison.run()
            report[comparison.model] = body
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    private func benchQwen2(comparisons: inout [(model: String, run: () throws -> [String: Any])]) throws -> [String: Any] {
        let c = Qwen2Configuration.qwen25_0_5B
        let decoder = try Qwen2Decoder(randomWeights: c, seed: 7, precision: precision)
        let d = c.hiddenSize
        let input = try DecoderInput(width: d, values: Tensor.random(shape: [prefix, d], scale: 0.05, seed: 99).storage.toArray())
        let suffixBatch = try (0..<suffixes).map { s in
            DecoderSuffix(input: try DecoderInput(width: d, values: Tensor.random(shape: [suffixLength, d], scale: 0.05,
                                                                                  seed: 1000 + UInt64(s)).storage.toArray()))
        }
        var state = try decoder.prefill(input)                       // warm-up (sizes the workspace)
        let prefillSeconds = try best { state = try decoder.prefill(input) }
        _ = try decoder.runSuffixes(suffixBatch, after: state)
        let suffixSeconds = try best { _ = try decoder.runSuffixes(suffixBatch, after: state) }

        let flops = QwenFlops(c)
        let prefillFlops = flops.forward(rows: prefix, past: 0)
        let suffixFlops = Double(suffixes) * flops.forward(rows: suffixLength, past: prefix)
        let rss = BenchMachine.peakResidentBytes
        let bound = 1.2 * Double(decoder.weightBytes) + Double(decoder.workspaceBytes + state.byteCount)
        let report: [String: Any] = [
            "shape": ["hidden": d, "layers": c.layers, "heads": c.heads, "kv_heads": c.kvHeads,
                      "ffn": c.intermediateSize, "vocab": c.vocabularySize, "rope_theta": c.ropeTheta],
            "prefill": ["positions": prefix, "seconds": prefillSeconds, "tokens_per_second": Double(prefix) / prefillSeconds,
                        "gflop": prefillFlops / 1e9, "gflop_per_second": prefillFlops / prefillSeconds / 1e9],
            "suffixes": ["count": suffixes, "length": suffixLength, "seconds": suffixSeconds,
                         "tokens_per_second": Double(suffixes * suffixLength) / suffixSeconds,
                         "gflop": suffixFlops / 1e9, "gflop_per_second": suffixFlops / suffixSeconds / 1e9,
                         "fraction_of_prefill": suffixSeconds / prefillSeconds],
            "weight_bytes": decoder.weightBytes, "workspace_bytes": decoder.workspaceBytes, "kv_cache_bytes": state.byteCount,
            "peak_rss_bytes": rss, "rss_bound_bytes": Int(bound), "rss_within_bound": Double(rss) <= bound,
        ]
        if precision != .fp32 && compareFp32 {
            // Final-norm states at a few prefill positions and at each suffix's last position, against fp32.
            let positions = [0, prefix / 2, prefix - 1]
            func outputs(_ d: Qwen2Decoder) throws -> [[Float]] {
                let (s, hidden) = try d.prefill(input, after: nil, outputPositions: positions)
                return hidden + (try d.runSuffixes(suffixBatch, after: s)).map { $0[0] }
            }
            let got = try outputs(decoder)
            comparisons.append(("qwen2", {
                accuracy(got, try outputs(Qwen2Decoder(randomWeights: c, seed: 7)),
                         what: "prefill positions \(positions) + last position of each suffix")
            }))
        }
        return report
    }

    private func benchBert(comparisons: inout [(model: String, run: () throws -> [String: Any])]) throws -> [String: Any] {
        let c = BertConfiguration.base
        let encoder = try BertEncoder(randomWeights: c, seed: 7, precision: precision)
        var generator = SystemRandomNumberGenerator()
        let batch = (0..<texts).map { _ in [Int32(101)] + (1..<tokens).map { _ in Int32.random(in: 1000..<29000, using: &generator) } }
        _ = try encoder.encodeCLS(batch)
        let seconds = try best { _ = try encoder.encodeCLS(batch) }
        let d = Double(c.hiddenSize), f = Double(c.intermediateSize), n = Double(texts * tokens)
        // Nominal FLOPs of the full model (what BertModel computes), so GFLOP/s compares with the peer.
        let perLayer = 2 * n * (4 * d * d + 2 * d * f) + 4 * Double(texts) * Double(tokens * tokens) * d
        let flops = perLayer * Double(c.layers)
        let rss = BenchMachine.peakResidentBytes
        let bound = 1.2 * Double(encoder.weightBytes) + Double(encoder.workspaceBytes)
        let report: [String: Any] = [
            "shape": ["hidden": c.hiddenSize, "layers": c.layers, "heads": c.heads, "ffn": c.intermediateSize, "vocab": c.vocabularySize],
            "encode": ["texts": texts, "tokens_per_text": tokens, "seconds": seconds,
                       "texts_per_second": Double(texts) / seconds, "tokens_per_second": n / seconds,
                       "gflop": flops / 1e9, "gflop_per_second": flops / seconds / 1e9],
            "weight_bytes": encoder.weightBytes, "workspace_bytes": encoder.workspaceBytes,
            "peak_rss_bytes": rss, "rss_bound_bytes": Int(bound), "rss_within_bound": Double(rss) <= bound,
        ]
        if precision != .fp32 && compareFp32 {
            let got = try encoder.encodeCLS(batch)
            comparisons.append(("bert", {
                accuracy(got, try BertEncoder(randomWeights: c, seed: 7).encodeCLS(batch), what: "[CLS] vector of every text")
            }))
        }
        return report
    }

    /// Worst cosine and largest absolute difference between paired vectors.
    private func accuracy(_ got: [[Float]], _ reference: [[Float]], what: String) -> [String: Any] {
        var worstCosine = 1.0, maxAbs = 0.0
        for (g, r) in zip(got, reference) {
            var dot = 0.0, ng = 0.0, nr = 0.0
            for (x, y) in zip(g, r) {
                dot += Double(x) * Double(y); ng += Double(x) * Double(x); nr += Double(y) * Double(y)
                maxAbs = max(maxAbs, abs(Double(x) - Double(y)))
            }
            worstCosine = min(worstCosine, dot / max((ng * nr).squareRoot(), 1e-30))
        }
        return ["vectors": got.count, "compared": what, "worst_cosine": worstCosine, "max_abs": maxAbs]
    }

    /// Best wall-clock seconds of `repeat` runs.
    private func best(_ body: () throws -> Void) throws -> Double { try BenchMachine.bestSeconds(of: self.repeat, body) }
}

/// Nominal FLOPs of Qwen2 forward passes (matrix products and attention; element-wise work not counted).
private struct QwenFlops {
    let c: Qwen2Configuration
    init(_ c: Qwen2Configuration) { self.c = c }

    /// `rows` new positions after `past` cached ones, causal.
    func forward(rows: Int, past: Int) -> Double {
        let d = Double(c.hiddenSize), q = Double(c.queryWidth), kv = Double(c.kvWidth), f = Double(c.intermediateSize)
        let weights = d * (q + 2 * kv) + q * d + 3 * d * f
        let keysSeen = Double(rows) * Double(past) + Double(rows * (rows + 1) / 2)
        return Double(c.layers) * (2 * Double(rows) * weights + 4 * keysSeen * Double(c.heads * c.headDim))
    }
}

extension ComputePrecision: ExpressibleByArgument {}

private func environment(_ name: String) -> String {
    ProcessInfo.processInfo.environment[name] ?? "unset"
}

/// Resets this process's peak-RSS mark to its current RSS (Linux: writing 5 to /proc/self/clear_refs).
private func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}
