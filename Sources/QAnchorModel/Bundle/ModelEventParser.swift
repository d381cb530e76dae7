import Foundation

/// Parses JSON lines in the model's input format (DESIGN §4 plus `"modality"`) against a manifest's modalities.
///
/// A line is a JSON object with `modality` (a modality of the manifest), `event_id` and `user_id` (non-empty
/// strings), `ts` (epoch milliseconds as an integral JSON number, or an RFC 3339 string) and, for a text modality,
/// `text` (a string, may be empty) or, for a tabular one, `features` (exactly F numbers, finite as fp32; booleans
/// are not numbers). Other keys are ignored. The same rules as `parse_event_line` in `ops/model/qanchor_reference.py`.
/// Immutable: safe to share between threads.
public struct ModelEventParser: Sendable {
    /// A line that could not be parsed: its 1-based number and why.
    public struct BadLine: Sendable, Equatable {
        public let line: Int
        public let error: ModelEventParseError
    }

    private let modalities: [String: BundleModality]

    public init(modalities: [BundleModality]) {
        var byName: [String: BundleModality] = [:]
        for m in modalities { byName[m.name] = m }
        self.modalities = byName
    }

    /// Parses one line (without its newline). A key given twice counts with its first value. A byte-order mark
    /// is not JSON: ``parseLines(_:)`` strips one at the start of a file, anywhere else the line is malformed.
    public func parse(_ line: some StringProtocol) throws(ModelEventParseError) -> ModelEvent {
        guard !line.hasPrefix("\u{FEFF}") else { throw ModelEventParseError(field: nil, reason: "malformed JSON (byte-order mark)") }
        let value: JSONLineValue
        do {
            value = try JSONDecoder().decode(JSONLineValue.self, from: Data(line.utf8))
        } catch {
            throw ModelEventParseError(field: nil, reason: "malformed JSON")
        }
        guard case let .object(object) = value else { throw ModelEventParseError(field: nil, reason: "expected a JSON object") }
        guard case let .string(name)? = object["modality"], let modality = modalities[name] else {
            throw ModelEventParseError(field: "modality", reason: "unknown modality \(object["modality"]?.summary ?? "(missing)")")
        }
        func nonEmptyString(_ key: String) throws(ModelEventParseError) -> String {
            guard case let .string(s)? = object[key], !s.isEmpty else {
                throw ModelEventParseError(field: key, reason: "expected a non-empty string")
            }
            return s
        }
        let eventID = try nonEmptyString("event_id")
        let userID = try nonEmptyString("user_id")
        let ts: Int64?
        switch object["ts"] {
        case let .string(s)?: ts = RFC3339Timestamp.milliseconds(s)
        case let other?: ts = other.exactInteger
        case nil: ts = nil
        }
        guard let ts else {
            throw ModelEventParseError(field: "ts", reason: "expected epoch milliseconds or an RFC 3339 time, found \(object["ts"]?.summary ?? "nothing")")
        }
        switch modality.kind {
        case .text:
            guard case let .string(text)? = object["text"] else { throw ModelEventParseError(field: "text", reason: "expected a string") }
            return ModelEvent(modality: name, eventID: eventID, userID: userID, timestampMs: ts, payload: .text(text))
        case .tabular:
            let count = modality.features ?? 0
            guard case let .array(items)? = object["features"], items.count == count else {
                throw ModelEventParseError(field: "features", reason: "expected an array of \(count) numbers")
            }
            var features: [Float] = []
            features.reserveCapacity(count)
            for item in items {
                guard let v = item.finiteNumber, Float(v).isFinite else {
                    throw ModelEventParseError(field: "features", reason: "expected finite numbers (in float32 range)")
                }
                features.append(Float(v))
            }
            return ModelEvent(modality: name, eventID: eventID, userID: userID, timestampMs: ts, payload: .features(features))
        }
    }

    /// Parses a whole JSONL file: events in file order (with `line` set) and the bad lines. Lines are split on
    /// `\n`; blank lines (only whitespace) are skipped; a line that is not UTF-8 is bad; a byte-order mark at the
    /// start of the file is skipped.
    public func parseLines(_ data: Data) -> (events: [ModelEvent], bad: [BadLine]) {
        var events: [ModelEvent] = []
        var bad: [BadLine] = []
        let bytes = [UInt8](data)
        var number = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            guard var line = String(validating: raw, as: UTF8.self) else {
                bad.append(BadLine(line: number, error: ModelEventParseError(field: nil, reason: "invalid UTF-8")))
                continue
            }
            if number == 1, line.hasPrefix("\u{FEFF}") { line.removeFirst() }
            if line.allSatisfy({ $0.isWhitespace }) { continue }
            do {
                var event = try parse(line)
                event.line = number
                events.append(event)
            } catch {
                bad.append(BadLine(line: number, error: error))
            }
        }
        return (events, bad)
    }
}
