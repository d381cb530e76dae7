import ArgumentParser
import Dispatch
import Foundation
import QAnchorDaemon
import QAnchorModel
import QAnchorStore

/// `qanchor bench query`: what an ad-hoc query (docs/query.md) costs on a cached prefix state, against the cold path
/// it replaces, on the real Qwen2.5-0.5B shapes with random weights, per precision, as JSON.
///
/// - **cold**: prefill `--prefix` positions, then the query suffix (`--query-length` positions) — a miss;
/// - **cached**: read the fp16 state from a real store (LMDB, durable), decode it, run the same suffix — a hit.
///
/// Each is the best of `--repeat` runs after a warm-up; `cached / cold` is the target ratio (≤ 0.05). Also the
/// store bytes per cached user and how far the cached path's hidden state is from the cold one (fp16 rounding).
///
/// With `--url` and `--user` it is instead a load generator against a running daemon: `--concurrency` clients on
/// loopback send `--requests` queries in all and it reports latency percentiles, throughput and status counts.
struct BenchQueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query",
                                                    abstract: "Benchmark ad-hoc queries on cached prefix states (JSON on stdout).")

    @Option(help: "Precisions to run (repeatable; default: fp32, and bf16 where supported).")
    var precision: [ComputePrecision] = []
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Option(help: "Timed runs per measurement (the best is reported).") var `repeat` = 3
    @Option(help: "Prefix positions (the user's history).") var prefix = 800
    @Option(help: "Positions of the query suffix (query tokens, soft prompt, readout).") var queryLength = 24
    @Option(help: "Also time this many queries in one suffix pass on the cached state.") var batch = 4

    @Option(help: "Load mode: a running daemon's base URL.") var url: String?
    @Option(help: "Load mode: the user to query.") var user: String?
    @Option(help: "Load mode: concurrent clients.") var concurrency = 8
    @Option(help: "Load mode: requests in all.") var requests = 400
    @Option(help: "Load mode: the query text.") var query = "Will this user travel abroad in the next month?"
    @Option(help: "Load mode: a file holding the daemon's bearer token.") var tokenFile: String?

    func validate() throws {
        guard prefix > 0, queryLength > 0, self.repeat > 0, threads > 0 else {
            throw ValidationError("--prefix, --query-length, --repeat and --threads must be > 0")
        }
        guard (url == nil) == (user == nil) else { throw ValidationError("--url and --user go together (load mode)") }
        guard concurrency > 0, requests > 0 else { throw ValidationError("--concurrency and --requests must be > 0") }
    }

    func run() async throws {
        var report: [String: Any] = ["benchmark": "query", "cpu": BenchMachine.cpu, "load_average": BenchMachine.loadAverage,
                                     "openblas_environment": BenchMachine.openBLASEnvironment]
        if let url, let user {
            report["mode"] = "load"
            report["load"] = try await load(url: url, user: user)
        } else {
            BLAS.setThreads(threads)
            report["mode"] = "model"
            report["threads"] = BLAS.threads
            report["shape"] = "Qwen2.5-0.5B (random weights)"
            report["timing"] = "best of \(self.repeat), after one warm-up run"
            let chosen = precision.isEmpty ? ComputePrecision.allCases.filter(\.isSupported) : precision
            for p in chosen { report[p.rawValue] = try await model(p) }
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    private func model(_ precision: ComputePrecision) async throws -> [String: Any] {
        let c = Qwen2Configuration.qwen25_0_5B, d = c.hiddenSize
        let decoder = try Qwen2Decoder(randomWeights: c, seed: 7, precision: precision)
        let history = try DecoderInput(width: d, values: Tensor.random(shape: [prefix, d], scale: 0.05, seed: 99).storage.toArray())
        let suffix = DecoderSuffix(input: try DecoderInput(width: d, values: Tensor.random(shape: [queryLength, d], scale: 0.05,
                                                                                         seed: 5).storage.toArray()),
                                   outputPositions: [queryLength - 1])
        // A real store holding the state, as the daemon keeps it.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bench-query-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = StoreConfiguration(directory: directory,
                                               modalities: [ModalitySchema(name: "bill", kind: .text, cap: 50, dimension: 768)])
        configuration.prefixKVBudgetBytes = 1 << 30
        let store = try EventStore(configuration: configuration)
        defer { store.close() }
        let key = UserKey(partition: 0, userID: "bench-user")
        let digest = [UInt8](repeating: 7, count: 32), fingerprint = "sha256:bench"

        var state = try decoder.prefill(history)
        var coldHidden: [Float] = []
        let cold = try best {
            state = try decoder.prefill(history)
            coldHidden = try decoder.runSuffixes([suffix], after: state)[0][0]
        }
        let bytes = [UInt8](state.serialized(precision: .fp16))
        _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: digest, fingerprint: fingerprint, bytes: bytes), for: key)
        var cachedHidden: [Float] = []
        var readSeconds = Double.infinity, decodeSeconds = Double.infinity
        let cached = try best {
            let t0 = DispatchTime.now().uptimeNanoseconds
            guard let stored = try store.prefixKV(key, contentHash: digest, fingerprint: fingerprint) else {
                throw CLIError("the cached state was not found in the store")
            }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let restored = try DecoderState(serialized: Data(stored))
            let t2 = DispatchTime.now().uptimeNanoseconds
            cachedHidden = try decoder.runSuffixes([suffix], after: restored)[0][0]
            readSeconds = min(readSeconds, Double(t1 - t0) / 1e9)
            decodeSeconds = min(decodeSeconds, Double(t2 - t1) / 1e9)
        }
        let suffixOnly = try best { _ = try decoder.runSuffixes([suffix], after: state) }
        // Several queries of one request share the pass: the weights are read once for all of them.
        let many = try (0..<batch).map { i in
            DecoderSuffix(input: try DecoderInput(width: d, values: Tensor.random(shape: [queryLength, d], scale: 0.05,
                                                                                seed: 50 + UInt64(i)).storage.toArray()),
                          outputPositions: [queryLength - 1])
        }
        let batched = try best { _ = try decoder.runSuffixes(many, after: state) }
        let statistics = try store.statistics()
        var dot = 0.0, na = 0.0, nb = 0.0
        for (a, b) in zip(coldHidden, cachedHidden) { dot += Double(a) * Double(b); na += Double(a * a); nb += Double(b * b) }
        return [
            "prefix_positions": prefix, "query_positions": queryLength,
            "cold_seconds": cold, "cached_seconds": cached, "cached_over_cold": cached / cold, "target_ratio": 0.05,
            "cached_breakdown_seconds": ["store_read": readSeconds, "decode_fp16": decodeSeconds, "suffix": suffixOnly],
            "batched_queries": ["queries": batch, "seconds": batched, "seconds_per_query": batched / Double(batch),
                                "per_query_over_cold": batched / Double(batch) / cold],
            "store_bytes_per_cached_user": statistics.prefixKVBytes, "state_fp16_bytes": bytes.count,
            "cached_vs_cold_hidden_cosine": dot / max((na * nb).squareRoot(), 1e-30),
        ]
    }

    /// Best wall-clock seconds of `repeat` runs after one warm-up.
    private func best(_ body: () throws -> Void) throws -> Double {
        try body()
        return try BenchMachine.bestSeconds(of: self.repeat, body)
    }

    private func load(url base: String, user: String) async throws -> [String: Any] {
        let headers = try DaemonAddress.headers(tokenFile: tokenFile)
        let path = "/v1/users/\(user.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? user)/query"
        guard let target = URL(string: (base.hasSuffix("/") ? String(base.dropLast()) : base) + path) else {
            throw ValidationError("--url: not a URL: \(base)")
        }
        let body = Array("{\"query\":\(JSONText.string(query))}".utf8)
        // Warm the cache (the first query is a miss).
        let first = try LoopbackHTTPClient.send("POST", target, body: body, headers: headers)
        guard first.status == 200 else { throw CLIError("the daemon answered \(first.status): \(first.body)") }
        let began = DispatchTime.now().uptimeNanoseconds
        let perClient = (requests + concurrency - 1) / concurrency
        let results: [[(seconds: Double, status: Int)]] = try await withThrowingTaskGroup(of: [(seconds: Double, status: Int)].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    try await QueryCommand.offPool {
                        var out: [(seconds: Double, status: Int)] = []
                        for _ in 0..<perClient {
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            let response = try LoopbackHTTPClient.send("POST", target, body: body, headers: headers)
                            out.append((Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, response.status))
                        }
                        return out
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        let all = results.flatMap { $0 }
        let ok = all.filter { $0.status == 200 }.map(\.seconds).sorted()
        func percentile(_ p: Double) -> Double { ok.isEmpty ? .nan : ok[min(ok.count - 1, Int((p * Double(ok.count)).rounded(.up)) - 1)] }
        var statuses: [String: Int] = [:]
        for r in all { statuses[String(r.status), default: 0] += 1 }
        return ["url": base, "concurrency": concurrency, "requests": all.count, "statuses": statuses,
                "p50_seconds": percentile(0.50), "p95_seconds": percentile(0.95), "p99_seconds": percentile(0.99),
                "max_seconds": ok.last ?? .nan, "requests_per_second": Double(ok.count) / wall, "first_request": first.body.contains("\"miss\"") ? "miss" : "hit"]
    }
}
