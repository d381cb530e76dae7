import Foundation
import QAnchorModel
import QAnchorTestSupport
import Testing
@testable import QAnchorDaemon

@Suite("Output records")
struct EmbeddingRecordTests {
    static let record = EmbeddingRecord(
        userID: "u42 \"quoted\" 用户", scenario: "credit_risk", embedding: [0.5, -0.25, 1e-7, 3.4e38],
        scores: [LabelScore(label: "low", score: 0.75), LabelScore(label: "high", score: 0.25)],
        modelName: "tiny", modelVersion: "1.0.0", fingerprint: "sha256:ab", version: 17, eventTimeMs: 1_764_288_000_000,
        windowStartMs: 1_756_512_000_000, computedAtMs: 1_764_291_600_000)

    @Test func jsonHasTheContractFieldsInOrder() throws {
        let json = Self.record.json
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(object["user_id"] as? String == "u42 \"quoted\" 用户")
        #expect(object["dim"] as? Int == 4)
        #expect((object["embedding"] as? [NSNumber])?.map(\.floatValue) == [0.5, -0.25, 1e-7, 3.4e38])
        #expect((object["scores"] as? [String: NSNumber])?["low"]?.floatValue == 0.75)
        #expect((object["model"] as? [String: String])?["fingerprint"] == "sha256:ab")
        #expect(object["version"] as? Int == 17)
        #expect(object["event_time"] as? Int64 == 1_764_288_000_000)
        let keys = ["user_id", "scenario", "dim", "embedding", "scores", "model", "version", "event_time", "window_start", "computed_at"]
        let positions = keys.map { json.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    /// Decoded by the official protobuf runtime (ops/proto/decode_embedding.py), an independent decoder.
    @Test func protobufDecodesWithTheOfficialRuntime() throws {
        var noEvents = Self.record
        noEvents.eventTimeMs = nil
        noEvents.scores = nil
        var zeroTime = Self.record
        zeroTime.eventTimeMs = 0
        let input = [Self.record, noEvents, zeroTime].map { $0.protobuf.map { String(format: "%02x", $0) }.joined() }
            .joined(separator: "\n")
        let script = TestBroker.repositoryRoot.appendingPathComponent("ops/proto/decode_embedding.py").path
        let (status, output) = try Subprocess.run("/opt/qanchor/venv/bin/python", [script], input: input, showErrors: true)
        #expect(status == 0)
        let decoded = output.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(decoded.count == 3)
        guard decoded.count == 3 else { return }
        let first = decoded[0]
        #expect(first["user_id"] as? String == Self.record.userID)
        #expect(first["scenario"] as? String == "credit_risk")
        #expect(first["dim"] as? Int == 4)
        #expect((first["embedding"] as? [NSNumber])?.map(\.floatValue) == Self.record.embedding)
        let scores = first["scores"] as? [[String: Any]]
        #expect(scores?.map { $0["label"] as? String } == ["low", "high"])
        #expect((first["model"] as? [String: String]) == ["name": "tiny", "version": "1.0.0", "fingerprint": "sha256:ab"])
        #expect(first["version"] as? String == "17")  // 64-bit integers are strings in protobuf JSON
        #expect(first["event_time"] as? String == "1764288000000")
        #expect(first["window_start"] as? String == "1756512000000")
        #expect(first["computed_at"] as? String == "1764291600000")
        #expect(decoded[1]["has_event_time"] as? Bool == false)
        #expect(decoded[1]["scores"] == nil)
        #expect(decoded[2]["has_event_time"] as? Bool == true)
    }

    /// The Schema Registry JSON framing, decoded by confluent-kafka's own JSONDeserializer against the committed JSON
    /// Schema (ops/schema/decode_embedding_sr.py): an independent decoder and validator.
    @Test func schemaRegistryFramedJSONDecodesWithConfluentsDeserializer() throws {
        let encoder = try #require(OutputFormats.encoder({ var o = DaemonConfiguration.Output(); o.format = .jsonSchemaRegistry; o.schemaID = 4242; return o }())
                                    as? ConfluentJSONOutputEncoder)
        var noEvents = Self.record
        noEvents.eventTimeMs = nil
        noEvents.scores = nil
        var bad = Self.record
        bad.version = 0  // the schema requires version ≥ 1: the deserializer must refuse it
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        let input = [Self.record, noEvents, bad].map { hex(encoder.encode($0)) }.joined(separator: "\n")
        let script = TestBroker.repositoryRoot.appendingPathComponent("ops/schema/decode_embedding_sr.py").path
        let (status, output) = try Subprocess.run("/opt/qanchor/venv/bin/python", [script], input: input, showErrors: false)
        #expect(status == 1, "one record violates the schema")
        let decoded = output.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(decoded.count == 3)
        guard decoded.count == 3 else { return }
        #expect(decoded[0]["magic"] as? Int == 0 && decoded[0]["schema_id"] as? Int == 4242)
        let first = decoded[0]["record"] as? [String: Any] ?? [:]
        #expect(first["user_id"] as? String == Self.record.userID)
        #expect((first["embedding"] as? [NSNumber])?.map(\.floatValue) == Self.record.embedding)
        #expect((first["scores"] as? [String: NSNumber])?["high"]?.floatValue == 0.25)
        #expect(first["version"] as? Int == 17)
        let second = decoded[1]["record"] as? [String: Any] ?? [:]
        #expect(second["event_time"] is NSNull && second["scores"] == nil)
        #expect((decoded[2]["error"] as? String)?.contains("less than the minimum of 1") == true, "\(decoded[2])")
        #expect(encoder.contentType.contains("schema-id=4242"))
    }

    /// The one hand-written JSON string escaper reads back, through Foundation's parser, as the very string it was
    /// given — for quotes, backslashes, every control character, separators JavaScript chokes on, and non-BMP text.
    @Test func theStringEscaperRoundTripsHostileStrings() throws {
        let hostile = ["", "plain", "\"quoted\" \\ back\\slash", "tab\tnew\nline\rreturn", "\u{0}\u{1}\u{1f}\u{7f}",
                       "line\u{2028}para\u{2029}", "emoji 👩🏽‍💻 and 用户", "</script>", "\u{FEFF}bom", "a/b"]
            + (0..<32).map { String(UnicodeScalar(UInt8($0))) }
        for text in hostile {
            let json = "[\(JSONText.string(text))]"
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
            #expect(parsed == [text], "\(json.debugDescription)")
        }
    }
}
