import Foundation
import Testing
@testable import QAnchorModel

/// One model's golden case from qwen2_goldens.json.
struct Qwen2GoldenCase {
    let model: String
    let decoder: Qwen2Decoder
    let goldens: SafeTensorsFile
    let raw: [String: Any]
    let vectors: [[Float]]

    static func load(_ model: String) throws -> Qwen2GoldenCase {
        let meta = try EngineGolden.json("qwen2_goldens.json")
        let cases = try #require(meta["cases"] as? [[String: Any]])
        let raw = try #require(cases.first { $0["model"] as? String == model })
        let goldens = try SafeTensorsFile(url: EngineGolden.url("qwen2_goldens.safetensors"))
        return Qwen2GoldenCase(model: model, decoder: try Qwen2Decoder(directory: EngineGolden.url(model)), goldens: goldens,
                               raw: raw, vectors: try EngineGolden.rows(goldens, try #require(raw["vectors"] as? String)))
    }

    /// Items as written by the golden tool: {"id": n} or {"vec": i}.
    func items(_ value: Any?) throws -> [DecoderInputItem] {
        let list = try #require(value as? [[String: Int]])
        return try list.map { item in
            if let id = item["id"] { return .token(Int32(id)) }
            return .vector(vectors[try #require(item["vec"])])
        }
    }

    func input(_ value: Any?) throws -> DecoderInput { try decoder.embed(try items(value)) }
}

@Suite struct Qwen2DecoderTests {
    @Test(arguments: ["qwen2-tiny", "qwen2-tiny-bf16"])
    func longSequenceMatchesTransformers(model: String) throws {
        let g = try Qwen2GoldenCase.load(model)
        let long = try #require(g.raw["long"] as? [String: Any])
        let input = try g.input(long["items"])
        let want = try EngineGolden.rows(g.goldens, try #require(long["hidden"] as? String))
        let got = try g.decoder.hiddenStates(input, outputPositions: Array(0..<input.count))
        expectVectorsClose(got, want, "\(model) long")
    }

    @Test(arguments: ["qwen2-tiny", "qwen2-tiny-bf16"])
    func sharedPreamblePrefixAndSuffixesMatchFullPasses(model: String) throws {
        let g = try Qwen2GoldenCase.load(model)
        let d = g.decoder
        let preambleInput = try g.input(g.raw["preamble"])
        let users = try #require(g.raw["users"] as? [Any]).map { try g.input($0) }
        let suffixInputs = try #require(g.raw["suffixes"] as? [Any]).map { try g.input($0) }
        let full = try #require(g.raw["full"] as? [[String: Any]])

        let preamble = try d.prefill(preambleInput)
        let preambleBytes = preamble.serialized(precision: .fp32)
        for (u, userInput) in users.enumerated() {
            let state = try d.prefill(userInput, after: preamble)
            #expect(state.length == preambleInput.count + userInput.count)
            let suffixes = suffixInputs.map { DecoderSuffix(input: $0, outputPositions: Array(0..<$0.count)) }
            let got = try d.runSuffixes(suffixes, after: state)
            let prefixLength = state.length
            for entry in full where entry["user"] as? Int == u {
                let s = try #require(entry["suffix"] as? Int)
                let reference = try EngineGolden.rows(g.goldens, try #require(entry["hidden"] as? String))
                // Golden rows cover preamble + user + suffix; compare the suffix positions.
                expectVectorsClose(got[s], Array(reference[prefixLength...]), "\(model) user \(u) suffix \(s)")
                // The same suffix alone against the state gives the same result (batching does not leak).
                let alone = try d.runSuffixes([suffixes[s]], after: state)
                expectVectorsClose(alone[0], Array(reference[prefixLength...]), "\(model) user \(u) suffix \(s) alone")
                // Only the readout (last) position requested: the last layer runs on that row only.
                let readout = try d.runSuffixes(suffixInputs.map { DecoderSuffix(input: $0) }, after: state)
                expectVectorsClose(readout[s], [reference[reference.count - 1]], "\(model) user \(u) suffix \(s) readout")
            }
            // Prefix hidden states from the incremental prefill match the full pass too.
            let (_, prefixHidden) = try d.prefill(userInput, after: preamble, outputPositions: Array(0..<userInput.count))
            let reference = try EngineGolden.rows(g.goldens, try #require(full.first { $0["user"] as? Int == u }?["hidden"] as? String))
            expectVectorsClose(prefixHidden, Array(reference[preambleInput.count..<prefixLength]), "\(model) user \(u) prefix")
        }
        // Running suffixes and extending never modified the shared preamble.
        #expect(preamble.serialized(precision: .fp32) == preambleBytes)
    }

    @Test func stateSurvivesSerialisation() throws {
        let g = try Qwen2GoldenCase.load("qwen2-tiny")
        let d = g.decoder
        let prefix = try d.prefill(try g.input(g.raw["preamble"]))
        let suffix = DecoderSuffix(input: try g.input((g.raw["suffixes"] as? [Any])?.first))
        let direct = try d.runSuffixes([suffix], after: prefix)[0]

        let exact = try DecoderState(serialized: prefix.serialized(precision: .fp32))
        #expect(exact.serialized(precision: .fp32) == prefix.serialized(precision: .fp32))
        #expect(try d.runSuffixes([suffix], after: exact)[0] == direct)

        // fp16 halves the bytes; the hidden states move by no more than the fp16 rounding of K/V allows.
        let halfBytes = prefix.serialized(precision: .fp16)
        #expect(halfBytes.count == 32 + prefix.byteCount / 2)
        let half = try DecoderState(serialized: halfBytes)
        let (cosine, _) = compareVectors(try d.runSuffixes([suffix], after: half)[0][0], direct[0])
        #expect(cosine > 0.999)
    }

    /// Rows hidden from attention keep their positions: the state skips them (length) but counts them
    /// (nextPosition), serialisation keeps that, and suffixes continue at the right position.
    @Test func hiddenRowsKeepTheirPositionsThroughSerialisation() throws {
        let g = try Qwen2GoldenCase.load("qwen2-tiny")
        let d = g.decoder
        let preamble = try d.prefill(try g.input(g.raw["preamble"]))
        let user = try g.input((g.raw["users"] as? [Any])?.first)
        let hidden: Set<Int> = [1, 2, user.count - 1]
        let (state, _) = try d.prefill(user, after: preamble, outputPositions: [], hiding: hidden)
        #expect(state.length == preamble.length + user.count - hidden.count)
        #expect(state.nextPosition == preamble.length + user.count)
        let suffix = DecoderSuffix(input: try g.input((g.raw["suffixes"] as? [Any])?.first))
        let direct = try d.runSuffixes([suffix], after: state)[0]
        let restored = try DecoderState(serialized: state.serialized(precision: .fp32))
        #expect(restored.length == state.length && restored.nextPosition == state.nextPosition)
        #expect(try d.runSuffixes([suffix], after: restored)[0] == direct)
        // Hiding changes the result (the rows were visible before), and nothing hidden changes nothing.
        let visible = try d.prefill(user, after: preamble)
        #expect(try d.runSuffixes([suffix], after: visible)[0] != direct)
        let none = try d.prefill(user, after: preamble, outputPositions: [], hiding: []).state
        #expect(try d.runSuffixes([suffix], after: none)[0] == d.runSuffixes([suffix], after: visible)[0])
        // A hidden row's output cannot be asked for.
        #expect(throws: ModelInputError.hiddenOutputPosition(sequence: 0, position: 1)) {
            try d.prefill(user, after: preamble, outputPositions: [1], hiding: hidden)
        }
    }

    @Test func rejectsMalformedStateBytes() throws {
        let d = try Qwen2Decoder(directory: EngineGolden.url("qwen2-tiny"))
        let bytes = try d.prefill(d.embed([.token(1), .token(2)])).serialized(precision: .fp16)
        #expect(throws: ModelInputError.self) { try DecoderState(serialized: bytes.prefix(20)) }
        #expect(throws: ModelInputError.self) { try DecoderState(serialized: bytes.dropLast(2)) }
        var wrongMagic = bytes
        wrongMagic[0] ^= 0xFF
        #expect(throws: ModelInputError.badStateBytes(detail: "wrong magic number")) { try DecoderState(serialized: wrongMagic) }
        // A state of another model shape is refused when used.
        let other = try Qwen2Decoder(directory: EngineGolden.url("qwen2-tiny-bf16"))
        let foreign = DecoderState(length: 1, layers: 1, kvHeads: 2, headDim: 12)
        #expect(throws: ModelInputError.self) { try other.prefill(other.embed([.token(1)]), after: foreign) }
    }

    @Test func rejectsBadInput() throws {
        let d = try Qwen2Decoder(directory: EngineGolden.url("qwen2-tiny"))
        let c = d.configuration
        #expect(throws: ModelInputError.tokenOutOfRange(sequence: 0, position: 1, id: c.vocabularySize,
                                                         vocabularySize: c.vocabularySize)) {
            try d.embed([.token(0), .token(Int32(c.vocabularySize))])
        }
        #expect(throws: ModelInputError.vectorWidth(sequence: 0, position: 0, expected: c.hiddenSize, found: 3)) {
            try d.embed([.vector([1, 2, 3])])
        }
        var built = DecoderInput(width: c.hiddenSize)
        #expect(throws: ModelInputError.vectorWidth(sequence: 0, position: 0, expected: c.hiddenSize, found: 1)) {
            try built.append(row: [1])
        }
        #expect(throws: ModelInputError.self) { try built.append(contentsOf: DecoderInput(width: 3)) }
        #expect(throws: ModelInputError.self) { try DecoderInput(width: c.hiddenSize, values: [1, 2, 3]) }
        // Built row by row equals embed(): a token row then a vector.
        let vector = [Float](repeating: 0.25, count: c.hiddenSize)
        try built.append(contentsOf: d.embed([.token(7)]))
        try built.append(row: vector)
        #expect(built == (try d.embed([.token(7), .vector(vector)])))
        let one = try d.embed([.token(5)])
        #expect(throws: ModelInputError.emptySequence(index: 0)) { try d.prefill(DecoderInput(width: c.hiddenSize)) }
        #expect(throws: ModelInputError.outputPositionOutOfRange(sequence: 0, position: 1, length: 1)) {
            try d.hiddenStates(one, outputPositions: [1])
        }
        let state = try d.prefill(one)
        #expect(throws: ModelInputError.outputPositionOutOfRange(sequence: 1, position: -1, length: 1)) {
            try d.runSuffixes([DecoderSuffix(input: one), DecoderSuffix(input: one, outputPositions: [-1])], after: state)
        }
        #expect(throws: ModelInputError.vectorWidth(sequence: 0, position: 0, expected: c.hiddenSize, found: 4)) {
            try d.prefill(DecoderInput(width: 4, values: [1, 2, 3, 4]))
        }
        let tooLong = try DecoderInput(width: c.hiddenSize, values: [Float](repeating: 0.1, count: c.maxPositions * c.hiddenSize))
        #expect(throws: ModelInputError.sequenceTooLong(sequence: 0, length: c.maxPositions + 1, maximum: c.maxPositions)) {
            try d.prefill(tooLong, after: state)
        }
    }
}
