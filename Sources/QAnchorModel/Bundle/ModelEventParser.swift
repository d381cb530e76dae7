import Foundation

/// Parses JSON lines in the model's input format (docs/daemon.md "Input records", plus `"modality"`) against a manifest's modalities.
///
/// A line is a JSON object with `modality` (a modality of the manifest) and the event's fields as ``EventFields``
/// reads them (the same rules as the daemon and as `parse_event_line` in `ops/model/qanchor_reference.py`).
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
    /// Field rules: ``EventFields``.
    public func parse(_ line: some StringProtocol) throws(ModelEventParseError) -> ModelEvent {
        let fields: EventFields
        do { fields = try EventFields(json: Array(line.utf8)) } catch { throw Self.error(error, fields: nil, modality: nil) }
        guard let name = fields.string("modality"), let modality = modalities[name] else {
            throw ModelEventParseError(field: "modality", reason: "unknown modality \(fields.summary("modality") ?? "(missing)")")
        }
        do {
            let eventID = try fields.identifier("event_id")
            let userID = try fields.identifier("user_id")
            let ts = try fields.timestamp()
            switch modality.kind {
            case .text:
                return ModelEvent(modality: name, eventID: eventID, userID: userID, timestampMs: ts, payload: .text(try fields.text()))
            case .tabular:
                let features = try fields.features(count: modality.features ?? 0)
                return ModelEvent(modality: name, eventID: eventID, userID: userID, timestampMs: ts, payload: .features(features))
            }
        } catch {
            throw Self.error(error, fields: fields, modality: modality)
        }
    }

    /// A field problem worded as the reference words it.
    private static func error(_ problem: EventFieldProblem, fields: EventFields?, modality: BundleModality?) -> ModelEventParseError {
        switch problem {
        case .malformedJSON(let detail):
            return ModelEventParseError(field: nil, reason: detail.map { "malformed JSON (\($0))" } ?? "malformed JSON")
        case .notAnObject:
            return ModelEventParseError(field: nil, reason: "expected a JSON object")
        case .missing(let field), .empty(let field), .wrongType(let field, _):
            switch field {
            case "ts":
                return ModelEventParseError(field: field, reason: "expected epoch milliseconds or an RFC 3339 time, found "
                                            + (fields?.summary("ts") ?? "nothing"))
            case "text": return ModelEventParseError(field: field, reason: "expected a string")
            case "features":
                return ModelEventParseError(field: field, reason: "expected an array of \(modality?.features ?? 0) numbers")
            default: return ModelEventParseError(field: field, reason: "expected a non-empty string")
            }
        case .featureCount(_, let expected):
            return ModelEventParseError(field: "features", reason: "expected an array of \(expected) numbers")
        case .nonNumericFeature, .nonFiniteFeature:
            return ModelEventParseError(field: "features", reason: "expected finite numbers (in float32 range)")
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
