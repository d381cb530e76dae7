import ArgumentParser
import Foundation
import QAnchorModel

/// `qanchor bench tokenizers`: encoding throughput of the BPE and WordPiece tokenizers on the test corpus,
/// single-threaded, with the Hugging Face `tokenizers` library as peer in the same run (JSON to stdout).
struct BenchTokenizersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizers",
        abstract: "Tokenizer throughput (texts/s, tokens/s) against the Hugging Face tokenizers library.")

    @Option(help: "BPE tokenizer.json.")
    var bpe = "testdata/tokenizers/bpe/tokenizer.json"
    @Option(help: "WordPiece tokenizer.json.")
    var wordpiece = "testdata/tokenizers/wordpiece/tokenizer.json"
    @Option(help: "goldens.json whose case texts (corpus and random) are the workload.")
    var goldens = "testdata/tokenizers/goldens.json"
    @Option(help: "Times the text list is encoded.")
    var passes = 50
    @Option(help: "Python with `tokenizers` for the peer; empty to skip the peer.")
    var peerPython = "/opt/qanchor/ref/bin/python"
    @Option(help: "The peer script.")
    var peerScript = "ops/bench/tokenizers_peer.py"

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: goldens))
        let root: GoldenTexts
        do { root = try JSONDecoder().decode(GoldenTexts.self, from: data) } catch {
            throw ValidationError("\(goldens): not a goldens file (\(error))")
        }
        let texts = (root.cases ?? []).compactMap(\.text) + (root.fuzz ?? []).compactMap(\.text)
        guard !texts.isEmpty else { throw ValidationError("\(goldens): no texts") }
        let bytes = texts.reduce(0) { $0 + $1.utf8.count }

        var result: [String: Any] = [
            "texts": texts.count, "passes": passes, "utf8_bytes_per_pass": bytes, "threads": 1,
        ]
        let peer = try runPeer(texts)
        for (name, path) in [("bpe", bpe), ("wordpiece", wordpiece)] {
            let clock = ContinuousClock()
            var loaded: Tokenizer?
            let loadTime = try clock.measure { loaded = try Tokenizer(contentsOf: URL(fileURLWithPath: path)) }
            guard let tokenizer = loaded else { throw ValidationError("\(path): not loaded") }
            var ids: [[Int]] = texts.map { tokenizer.encode($0) }  // warm-up, fills the BPE cache
            let elapsed = clock.measure {
                for _ in 0..<passes { ids = texts.map { tokenizer.encode($0) } }
            }
            let seconds = Self.seconds(elapsed)
            let tokens = ids.reduce(0) { $0 + $1.count } * passes
            var entry: [String: Any] = [
                "seconds": seconds, "texts_per_s": Double(texts.count * passes) / seconds,
                "tokens_per_s": Double(tokens) / seconds, "mb_per_s": Double(bytes * passes) / seconds / 1e6,
                "tokens": tokens, "checksum": Self.checksum(ids), "load_seconds": Self.seconds(loadTime),
                "vocabulary_size": tokenizer.vocabularySize,
            ]
            if let p = name == "bpe" ? peer?.bpe : peer?.wordpiece {
                entry["peer_load_seconds"] = p.loadSeconds
                entry["peer_batch_seconds"] = p.batchSeconds
                entry["peer_loop_seconds"] = p.loopSeconds
                entry["speedup_vs_peer_batch"] = p.batchSeconds / seconds
                entry["speedup_vs_peer_loop"] = p.loopSeconds / seconds
                entry["same_ids_as_peer"] = p.checksum == Self.checksum(ids) && p.tokens == tokens
            }
            result[name] = entry
        }
        if let version = peer?.tokenizersVersion { result["peer"] = "tokenizers \(version) (Rust, 1 thread)" }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
        FileHandle.standardOutput.write(json)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Sum over texts of (index + 1) * sum(ids), mod 2^61 (the peer computes the same).
    static func checksum(_ all: [[Int]]) -> Int {
        var total = 0
        let modulus = 1 << 61
        for (i, ids) in all.enumerated() {
            let s = ids.reduce(0, +) % modulus
            total = Int((UInt64(total) + UInt64(i + 1) % UInt64(modulus) * UInt64(s) % UInt64(modulus)) % UInt64(modulus))
        }
        return total
    }

    /// The texts of `testdata/tokenizers/goldens.json`.
    private struct GoldenTexts: Decodable {
        struct Case: Decodable { let text: String? }
        let cases: [Case]?, fuzz: [Case]?
    }

    /// What `ops/bench/tokenizers_peer.py` prints.
    private struct PeerReport: Decodable {
        struct Figures: Decodable {
            let loadSeconds: Double, batchSeconds: Double, loopSeconds: Double, checksum: Int, tokens: Int
        }
        let bpe: Figures?, wordpiece: Figures?, tokenizersVersion: String?
    }

    private func runPeer(_ texts: [String]) throws -> PeerReport? {
        guard !peerPython.isEmpty, FileManager.default.isExecutableFile(atPath: peerPython) else { return nil }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bench-texts-\(getpid()).json")
        try JSONSerialization.data(withJSONObject: texts).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: peerPython)
        process.arguments = [peerScript, "--bpe", bpe, "--wordpiece", wordpiece, "--texts", file.path,
                             "--repeat", String(passes)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("peer \(peerScript) exited with status \(process.terminationStatus)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(PeerReport.self, from: output)
    }
}
