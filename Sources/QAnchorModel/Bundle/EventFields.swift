import Foundation

/// The fields of one input event (DESIGN §4) read from its JSON object, with one set of rules for every reader — the
/// daemon's record parser and `qanchor embed`'s line parser — so they cannot drift apart. The rules are those of
/// `parse_event_line` in `ops/model/qanchor_reference.py`: identifiers are non-empty strings; `ts` is epoch
/// milliseconds (an integral JSON number) or an RFC 3339 string; `text` a string (may be empty); `features` exactly F
/// numbers, finite as fp32 (booleans are not numbers). Absent and `null` are the same. Unknown keys are ignored; a key
/// given twice counts with its first value. A byte-order mark is not JSON.
///
/// A value type; immutable and `Sendable`.
public struct EventFields: Sendable {
    private let object: [String: JSONLineValue]

    /// Decodes `json` (UTF-8 bytes of one JSON object).
    public init(json: some Collection<UInt8>) throws(EventFieldProblem) {
        guard !json.starts(with: [0xEF, 0xBB, 0xBF]) else { throw .malformedJSON(detail: "byte-order mark") }
        let value: JSONLineValue
        do { value = try JSONDecoder().decode(JSONLineValue.self, from: Data(json)) } catch {
            throw .malformedJSON(detail: nil)
        }
        guard case let .object(object) = value else { throw .notAnObject }
        self.object = object
    }

    /// A string field, if present as a string.
    public func string(_ key: String) -> String? {
        if case let .string(s)? = object[key] { return s }
        return nil
    }

    /// A short rendering of a field's value for messages (nil when absent); never used for `text`.
    public func summary(_ key: String) -> String? { object[key]?.summary }

    /// A non-empty string (`event_id`, `user_id`).
    public func identifier(_ key: String) throws(EventFieldProblem) -> String {
        switch object[key] {
        case nil, .null?: throw .missing(field: key)
        case let .string(s)?: if s.isEmpty { throw .empty(field: key) } else { return s }
        default: throw .wrongType(field: key, expected: "a non-empty string")
        }
    }

    /// `ts` in epoch milliseconds.
    public func timestamp() throws(EventFieldProblem) -> Int64 {
        let expected = "epoch milliseconds or an RFC 3339 time"
        switch object["ts"] {
        case nil, .null?: throw .missing(field: "ts")
        case let .string(s)?:
            guard let ms = RFC3339Timestamp.milliseconds(s) else { throw .wrongType(field: "ts", expected: expected) }
            return ms
        case let other?:
            guard let ms = other.exactInteger else { throw .wrongType(field: "ts", expected: expected) }
            return ms
        }
    }

    /// `text` (a string, possibly empty).
    public func text() throws(EventFieldProblem) -> String {
        switch object["text"] {
        case nil, .null?: throw .missing(field: "text")
        case let .string(s)?: return s
        default: throw .wrongType(field: "text", expected: "a string")
        }
    }

    /// `features`: exactly `count` numbers, each finite as fp32.
    public func features(count: Int) throws(EventFieldProblem) -> [Float] {
        let items: [JSONLineValue]
        switch object["features"] {
        case nil, .null?: throw .missing(field: "features")
        case let .array(a)?: items = a
        default: throw .wrongType(field: "features", expected: "an array of \(count) numbers")
        }
        guard items.count == count else { throw .featureCount(found: items.count, expected: count) }
        var out: [Float] = []
        out.reserveCapacity(count)
        for (i, item) in items.enumerated() {
            switch item {
            case .integer, .number:
                guard let v = item.finiteNumber, Float(v).isFinite else { throw .nonFiniteFeature(index: i) }
                out.append(Float(v))
            default:
                throw .nonNumericFeature(index: i)
            }
        }
        return out
    }
}

/// What is wrong with an input event's JSON, naming the field. Readers word it for their users: `qanchor embed` as
/// the reference does (``message``), the daemon as dead-letter reason codes.
public enum EventFieldProblem: Error, Sendable, Equatable {
    case malformedJSON(detail: String?)
    case notAnObject
    case missing(field: String)
    case empty(field: String)
    case wrongType(field: String, expected: String)
    case featureCount(found: Int, expected: Int)
    case nonNumericFeature(index: Int)
    case nonFiniteFeature(index: Int)

    /// The JSON key at fault (nil when the value is not a JSON object at all).
    public var field: String? {
        switch self {
        case .malformedJSON, .notAnObject: return nil
        case let .missing(f), let .empty(f), let .wrongType(f, _): return f
        case .featureCount, .nonNumericFeature, .nonFiniteFeature: return "features"
        }
    }
}
