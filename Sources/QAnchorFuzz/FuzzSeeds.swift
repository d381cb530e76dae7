import Foundation
import QAnchorModel
@_spi(Fuzzing) import QAnchorStore

/// Seed corpora, one folder per target (`qanchor-fuzz --write-seeds DIR`; `ops/fuzz` regenerates them): valid inputs
/// made by the real encoders or taken from the committed test data, so the fuzzers start past the first checks.
enum FuzzSeeds {
    static func write(to directory: URL, testdata: URL) throws {
        for (target, inputs) in try make(testdata: testdata) {
            let folder = directory.appendingPathComponent(target.rawValue)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (i, input) in inputs.enumerated() {
                precondition(input.count > 0)
                try Data(input).write(to: folder.appendingPathComponent(String(format: "seed-%02d", i)))
            }
        }
    }

    static func make(testdata: URL) throws -> [(FuzzTarget, [[UInt8]])] {
        func file(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: testdata.appendingPathComponent(path))) }
        let store = StoreFuzzing.seeds()

        // Events: records of every shape the daemon reads (first byte: the target's selector).
        let ts = FuzzTarget.eventNowMs - 86_400_000
        let lines = [
            #"{"event_id":"e1","user_id":"u1","ts":\#(ts),"text":"Paid 38.00 CNY at Lucky Coffee"}"#,
            #"{"event_id":"e2","user_id":"u1","ts":"2026-10-01T08:00:00Z","text":"héllo \u00e9 \ud83d\ude00"}"#,
            #"{"event_id":"e3","user_id":"u1","ts":\#(ts),"features":[1.5,-2,3e2]}"#,
            #"{"event_id":"e4","user_id":"u1","ts":\#(ts),"text":"x","extra":{"a":[1,2,{"b":null}]}}"#,
        ]
        let selectors: [UInt8] = [0, 0x80, 1 | (3 << 1), 0]
        var events: [[UInt8]] = zip(selectors, lines).map { [$0] + Array($1.utf8) }
        for line in (try file("events/bad-lines.jsonl")).split(separator: 0x0A).prefix(8) { events.append([0] + Array(line)) }

        // Manifests: the committed bundles'.
        let manifests = [try file("models/tiny/qanchor.json"), try file("converted/bundle/qanchor.json")]

        // Safetensors: small committed files.
        let safetensors = [try file("engine/bert_goldens.safetensors"), try file("converted/bundle/heads.safetensors")]

        // Tokenizer: one tokenizer.json, then corpus lines for each test tokenizer.
        let corpus = (try file("tokenizers/corpus.txt")).split(separator: 0x0A).filter { $0.first != UInt8(ascii: "#") }
        var tokenizer: [[UInt8]] = [[0] + (try file("tokenizers/wordpiece/tokenizer.json"))]
        for (i, line) in corpus.prefix(12).enumerated() { tokenizer.append([UInt8(1 + i % 3)] + Array(line)) }

        // Decoder states: 2 layers, 1 KV head of width 4, 3 positions, in both precisions.
        func state(precision: UInt32, leftOut: UInt32) -> [UInt8] {
            var bytes: [UInt8] = []
            for v: UInt32 in [0x5641_4B51, 1, precision, 2, 1, 4, 3, leftOut] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
            for i in 0..<(2 * 2 * 1 * 4 * 3) {
                if precision == 1 { withUnsafeBytes(of: Float16(Float(i) / 8).bitPattern.littleEndian) { bytes += $0 } }
                else { withUnsafeBytes(of: (Float(i) / 8).bitPattern.littleEndian) { bytes += $0 } }
            }
            precondition((try? DecoderState(serialized: Data(bytes))) != nil, "decoder-state seed does not load")
            return bytes
        }
        let states = [state(precision: 1, leftOut: 0), state(precision: 2, leftOut: 5)]

        return [(.events, events), (.manifest, manifests), (.safetensors, safetensors), (.tokenizer, tokenizer),
                (.decoderState, states), (.journal, store.journal), (.records, store.records)]
    }
}
