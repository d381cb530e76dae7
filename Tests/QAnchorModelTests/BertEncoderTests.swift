import Foundation
import Testing
@testable import QAnchorModel

@Suite struct BertEncoderTests {
    @Test(arguments: ["bert-tiny", "bert-tiny-f16"])
    func clsVectorsMatchTransformers(model: String) throws {
        let meta = try EngineGolden.json("bert_goldens.json")
        let sequences = try #require(meta["sequences"] as? [[Int]]).map { $0.map(Int32.init) }
        let cases = try #require(meta["cases"] as? [[String: String]])
        let key = try #require(cases.first { $0["model"] == model }?["cls"])
        let want = try EngineGolden.rows(SafeTensorsFile(url: EngineGolden.url("bert_goldens.safetensors")), key)

        let encoder = try BertEncoder(directory: EngineGolden.url(model))
        expectVectorsClose(try encoder.encodeCLS(sequences), want, model)
        // One text at a time gives the same vectors as the batch.
        for (i, s) in sequences.enumerated() { expectVectorsClose(try encoder.encodeCLS([s]), [want[i]], "\(model) alone #\(i)") }
    }

    @Test func rejectsBadInput() throws {
        let encoder = try BertEncoder(directory: EngineGolden.url("bert-tiny"))
        let c = encoder.configuration
        #expect(throws: ModelInputError.emptySequence(index: 1)) { try encoder.encodeCLS([[2, 5], []]) }
        #expect(throws: ModelInputError.tokenOutOfRange(sequence: 0, position: 1, id: c.vocabularySize,
                                                         vocabularySize: c.vocabularySize)) {
            try encoder.encodeCLS([[2, Int32(c.vocabularySize)]])
        }
        #expect(throws: ModelInputError.tokenOutOfRange(sequence: 0, position: 0, id: -1, vocabularySize: c.vocabularySize)) {
            try encoder.encodeCLS([[-1]])
        }
        let long = [Int32](repeating: 5, count: c.maxPositions + 1)
        #expect(throws: ModelInputError.sequenceTooLong(sequence: 0, length: c.maxPositions + 1, maximum: c.maxPositions)) {
            try encoder.encodeCLS([long])
        }
        #expect(try encoder.encodeCLS([]).isEmpty)
    }
}
