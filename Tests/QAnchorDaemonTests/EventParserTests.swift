import Foundation
import QAnchorModel
import QAnchorTestSupport
import Testing
@testable import QAnchorDaemon

@Suite("Input event parsing and validation")
struct EventParserTests {
    let parser = EventParser(windowDays: 90, skewMs: 60_000, maxTextBytes: 64, maxIDBytes: 16)
    let now: Int64 = 1_764_288_000_000  // 2025-11-28T00:00:00Z

    func parse(_ json: String, key: String? = nil, kind: EventParser.Kind = .text) -> Result<InputEvent, EventRejection> {
        parser.parse(value: Array(json.utf8), key: key.map { Array($0.utf8) }, modality: 2, kind: kind, nowMs: now)
    }

    func rejection(_ json: String, key: String? = nil, kind: EventParser.Kind = .text) -> EventRejection.Code? {
        if case .failure(let r) = parse(json, key: key, kind: kind) { return r.code }
        return nil
    }

    @Test func validTextEventWithMillisecondsOrISOTime() throws {
        let a = try parse(#"{"event_id":"b-1","user_id":"u42","ts":1764280000000,"text":"Paid 38.00 CNY at Lucky Coffee"}"#, key: "u42").get()
        #expect(a == InputEvent(modality: 2, eventID: "b-1", userID: "u42", timestampMs: 1_764_280_000_000,
                                payload: .text("Paid 38.00 CNY at Lucky Coffee")))
        let b = try parse(#"{"event_id":"b-2","user_id":"u42","ts":"2025-11-27T23:00:00.5+01:00","text":"咖啡 ☕️","extra":[1,2]}"#).get()
        #expect(b.timestampMs == 1_764_280_800_500)  // 22:00:00.5Z
        #expect(b.payload == .text("咖啡 ☕️"))
    }

    @Test func validTabularEvent() throws {
        let e = try parse(#"{"event_id":"t-1","user_id":"u1","ts":1764287000000,"features":[1,2.5,-3e-2]}"#,
                          kind: .tabular(featureCount: 3)).get()
        #expect(e.payload == .features([1, 2.5, -0.03]))
    }

    @Test func everyRuleHasItsReason() {
        let ok = #""ts":1764287000000"#
        #expect(rejection("") == .emptyValue)
        #expect(parser.parse(value: [0x7b, 0xff, 0x7d], key: nil, modality: 0, kind: .text, nowMs: now).failureCode == .invalidUTF8)
        #expect(rejection(#"{"event_id": "x""#) == .malformedJSON)
        #expect(rejection(#"[1,2]"#) == .notAnObject)
        #expect(rejection(#"{"user_id":"u",\#(ok),"text":"t"}"#) == .missingField)
        #expect(rejection(#"{"event_id":"","user_id":"u",\#(ok),"text":"t"}"#) == .missingField)
        #expect(rejection(#"{"event_id":"e","user_id":null,\#(ok),"text":"t"}"#) == .missingField)
        #expect(rejection(#"{"event_id":7,"user_id":"u",\#(ok),"text":"t"}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"text":true}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":true,"text":"t"}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":1.5,"text":"t"}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":"yesterday","text":"t"}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":"2025-11-27T10:00:00","text":"t"}"#) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok)}"#) == .missingField)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"text":"t"}"#, key: "other") == .keyMismatch)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":1000,"text":"t"}"#) == .tooOld)
        #expect(rejection(#"{"event_id":"e","user_id":"u","ts":"2025-12-01T00:00:00Z","text":"t"}"#) == .inFuture)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"text":"\#(String(repeating: "é", count: 33))"}"#) == .textTooLong)
        #expect(rejection(#"{"event_id":"e","user_id":"\#(String(repeating: "u", count: 17))",\#(ok),"text":"t"}"#) == .fieldTooLong)
        let tab = EventParser.Kind.tabular(featureCount: 2)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"features":[1]}"#, kind: tab) == .featureCount)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"features":[1,"2"]}"#, kind: tab) == .wrongType)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"features":[1,1e39]}"#, kind: tab) == .nonFiniteFeature)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"features":[1,NaN]}"#, kind: tab) == .malformedJSON)
        #expect(rejection(#"{"event_id":"e","user_id":"u",\#(ok),"features":[1,true]}"#, kind: tab) == .wrongType)
    }

    @Test func rejectionDetailsNeverQuoteTheText() {
        let secret = "card 4111 1111 1111 1111 " + String(repeating: "x", count: 80)
        guard case .failure(let r) = parse(#"{"event_id":"e","user_id":"u","ts":1764287000000,"text":"\#(secret)"}"#) else {
            Issue.record("expected a rejection"); return
        }
        #expect(!r.detail.contains("4111"))
    }

    /// The daemon and `qanchor embed` read event fields with the same rules: on the tiny bundle's bad-lines file
    /// (malformed JSON, BOMs, lone surrogates, fractional and huge times, booleans, wrong feature counts, …) a
    /// line is accepted by one exactly when the other accepts it (window and id-length rules switched off).
    @Test func sameFieldRulesAsTheModelParser() throws {
        let root = TestBroker.repositoryRoot
        let manifest = try BundleManifest.load(bundleDirectory: root.appendingPathComponent("testdata/models/tiny"))
        let model = ModelEventParser(modalities: manifest.modalities)
        let lenient = EventParser(windowDays: 1_000_000, skewMs: Int64.max / 4, maxTextBytes: 1 << 20, maxIDBytes: 1 << 20)
        let data = try Data(contentsOf: root.appendingPathComponent("testdata/events/bad-lines.jsonl"))
        var compared = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let bytes = Array(raw)
            guard let line = String(validating: bytes, as: UTF8.self),
                  let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                  let name = object["modality"] as? String,
                  let index = manifest.modalities.firstIndex(where: { $0.name == name }) else { continue }
            let m = manifest.modalities[index]
            let kind: EventParser.Kind = m.kind == .text ? .text : .tabular(featureCount: m.features ?? 0)
            let daemon = lenient.parse(value: bytes, key: nil, modality: index, kind: kind, nowMs: now)
            let embed = (try? model.parse(line)) != nil
            #expect(((try? daemon.get()) != nil) == embed, "\(line)")
            compared += 1
        }
        #expect(compared >= 10)
    }
}

extension Result where Failure == EventRejection {
    var failureCode: EventRejection.Code? {
        if case .failure(let r) = self { return r.code }
        return nil
    }
}
