import Foundation

/// The fields of one input event (docs/daemon.md "Input records") read from its JSON object, with one set of rules for every reader — the
/// daemon's record parser and `qanchor embed`'s line parser — so they cannot drift apart. The rules are those of
/// `parse_event_line` in `ops/model/qanchor_reference.py`: identifiers are non-empty strings; `ts` is epoch
/// milliseconds (an integral JSON number) or an RFC 3339 string; `text` a string (may be empty); `features` exactly F
/// numbers, finite as fp32 (booleans are not numbers). Absent and `null` are the same. Unknown keys are ignored; a key
/// given twice counts with its first value. A byte-order mark is not JSON.
///
/// A value type; immutable and `Sendable`.
public struct EventFields: Sendable {
    private let object: EventObject

    /// Decodes `json` (UTF-8 bytes of one JSON object). Only the event's keys are read, each first as the type it
    /// should have (the fast path of the daemon's ingest); a value of another type is decoded exactly, for the error.
    public init(json: [UInt8]) throws(EventFieldProblem) {
        guard !json.starts(with: [0xEF, 0xBB, 0xBF]) else { throw .malformedJSON(detail: "byte-order mark") }
        do {
            object = try JSONDecoder().decode(EventObject.self, from: Data(json))
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw .notAnObject
        } catch {
            throw .malformedJSON(detail: JSONSyntaxError.locate(json)?.description)
        }
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
        switch object[.ts] {
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
        switch object[.text] {
        case nil, .null?: throw .missing(field: "text")
        case let .string(s)?: return s
        default: throw .wrongType(field: "text", expected: "a string")
        }
    }

    /// `features`: exactly `count` numbers, each finite as fp32.
    public func features(count: Int) throws(EventFieldProblem) -> [Float] {
        let items: [JSONValue]
        switch object[.features] {
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

/// The event's keys of one JSON object, decoded as `JSONValue`s (nil: absent or null).
private struct EventObject: Decodable, Sendable {
    private var values: [JSONValue?] = Array(repeating: nil, count: Key.allCases.count)

    fileprivate enum Key: Int, CodingKey, CaseIterable {
        case modality, eventID, userID, ts, text, features

        var stringValue: String {
            switch self {
            case .modality: "modality"
            case .eventID: "event_id"
            case .userID: "user_id"
            case .ts: "ts"
            case .text: "text"
            case .features: "features"
            }
        }
        init?(stringValue: String) {
            switch stringValue {
            case "modality": self = .modality
            case "event_id": self = .eventID
            case "user_id": self = .userID
            case "ts": self = .ts
            case "text": self = .text
            case "features": self = .features
            default: return nil
            }
        }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    fileprivate subscript(key: Key) -> JSONValue? { values[key.rawValue] }

    /// By JSON key name (nil for keys other than the event's).
    subscript(name: String) -> JSONValue? { Key(stringValue: name).flatMap { values[$0.rawValue] } }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in Key.allCases { values[key.rawValue] = try Self.value(c, key) }
    }

    /// The value of `key` (nil when absent or null): the expected type first (nothing thrown on the common path),
    /// then, for a value of another type, the exact value for the error message. Anything but a type mismatch (a
    /// string with a lone surrogate escape, a number out of range) makes the whole value malformed.
    private static func value(_ c: KeyedDecodingContainer<Key>, _ key: Key) throws -> JSONValue? {
        do {
            switch key {
            case .ts: return try c.decodeIfPresent(Int64.self, forKey: key).map { .integer($0) }
            case .features: return try c.decodeIfPresent([Double].self, forKey: key).map { .array($0.map { .number($0) }) }
            default: return try c.decodeIfPresent(String.self, forKey: key).map { .string($0) }
            }
        } catch DecodingError.typeMismatch {
            // Another type: decoded exactly below.
        } catch where key == .ts || key == .features {
            // A number that is not an Int64 (fraction, exponent, too large): decoded exactly below.
        }
        if key == .ts, let text = try? c.decode(String.self, forKey: key) { return .string(text) }
        return try c.decode(JSONValue.self, forKey: key)
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
