import QAnchorModel

/// One output record (docs/daemon.md "Output record"): a user's embedding for one scenario, with the model that made it and the
/// refresh it came from. Published to the scenario's topic (key = user id) and printed by `qanchor embed`.
///
/// JSON field order is fixed: `user_id, scenario, dim, embedding, scores, model, version, event_time,
/// window_start, computed_at` (`scores` only with prototypes; `computed_at` only when set). Floats are written in
/// their shortest round-trip form for float32. A value type.
public struct EmbeddingRecord: Sendable, Equatable {
    public var userID: String
    public var scenario: String
    public var embedding: [Float]
    public var scores: [LabelScore]?
    public var modelName: String
    public var modelVersion: String
    public var fingerprint: String
    /// Grows by one per refresh of this user.
    public var version: UInt64
    /// Newest event time in the prefix (ms), nil for a user with no events in the window.
    public var eventTimeMs: Int64?
    /// Start of the window the prefix covers (ms).
    public var windowStartMs: Int64
    /// When it was computed (ms); nil to leave it out (reproducible output).
    public var computedAtMs: Int64?

    public init(userID: String, scenario: String, embedding: [Float], scores: [LabelScore]?, modelName: String,
                modelVersion: String, fingerprint: String, version: UInt64, eventTimeMs: Int64?, windowStartMs: Int64,
                computedAtMs: Int64?) {
        self.userID = userID
        self.scenario = scenario
        self.embedding = embedding
        self.scores = scores
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.fingerprint = fingerprint
        self.version = version
        self.eventTimeMs = eventTimeMs
        self.windowStartMs = windowStartMs
        self.computedAtMs = computedAtMs
    }

    /// The record as one line of JSON (no trailing newline).
    public var json: String {
        var out = "{\"user_id\":\(JSONText.string(userID)),\"scenario\":\(JSONText.string(scenario)),"
        out += "\"dim\":\(embedding.count),\"embedding\":["
        out += embedding.map(JSONText.number).joined(separator: ",")
        out += "]"
        if let scores {
            out += ",\"scores\":{" + scores.map { "\(JSONText.string($0.label)):\(JSONText.number($0.score))" }
                .joined(separator: ",") + "}"
        }
        out += ",\"model\":{\"name\":\(JSONText.string(modelName)),\"version\":\(JSONText.string(modelVersion)),"
        out += "\"fingerprint\":\(JSONText.string(fingerprint))}"
        out += ",\"version\":\(version),\"event_time\":\(eventTimeMs.map(String.init) ?? "null")"
        out += ",\"window_start\":\(windowStartMs)"
        if let computedAtMs { out += ",\"computed_at\":\(computedAtMs)" }
        return out + "}"
    }
}

/// Minimal JSON text helpers for hand-written, order-stable records.
public enum JSONText {
    /// A JSON string literal with the required escapes.
    public static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 || scalar.value == 0xFEFF:
                // Control characters must be escaped; the line and paragraph separators (which end a JavaScript
                // line) and the byte-order mark (which some parsers drop) are escaped to survive any reader.
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A finite float in its shortest round-trip form (non-finite values, which the model never produces, as null).
    public static func number(_ f: Float) -> String {
        f.isFinite ? "\(f)" : "null"
    }
}
