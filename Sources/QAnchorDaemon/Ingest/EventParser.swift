import Foundation
import QAnchorModel

/// Parses and validates input records (DESIGN §4): one JSON object per record,
/// `{"event_id", "user_id", "ts", "text"}` for text modalities or `{"event_id", "user_id", "ts", "features"}` for
/// tabular. Rules: UTF-8; `event_id` and `user_id` non-empty strings of at most `maxIDBytes`; the record key, when
/// set, equals `user_id`; `ts` (integer milliseconds since the epoch, or an RFC 3339 string) inside
/// `[now − window, now + skew]`; `text` at most `maxTextBytes`; `features` exactly `featureCount` finite numbers.
/// Unknown fields are ignored.
///
/// A value type; `parse` is pure and may run on any thread.
public struct EventParser: Sendable {
    public enum Kind: Sendable, Hashable {
        case text
        case tabular(featureCount: Int)
    }

    /// Window length in milliseconds (90 days by default).
    public var windowMs: Int64
    /// How far in the future an event time may be (clock skew), in milliseconds.
    public var skewMs: Int64
    public var maxTextBytes: Int
    public var maxIDBytes: Int

    public init(windowDays: Int = 90, skewMs: Int64 = 300_000, maxTextBytes: Int = 4096, maxIDBytes: Int = 256) {
        self.windowMs = Int64(windowDays) * 86_400_000
        self.skewMs = skewMs
        self.maxTextBytes = maxTextBytes
        self.maxIDBytes = maxIDBytes
    }

    /// Parses one record of modality `modality` (its index) and `kind`, at wall-clock time `nowMs`.
    public func parse(value: [UInt8]?, key: [UInt8]?, modality: Int, kind: Kind, nowMs: Int64)
        -> Result<InputEvent, EventRejection> {
        guard let value, !value.isEmpty else { return .failure(.init(.emptyValue, "the record has no value")) }
        guard String(validating: value, as: UTF8.self) != nil else {
            return .failure(.init(.invalidUTF8, "the value is not valid UTF-8"))
        }
        let raw: RawInputEvent
        do {
            raw = try JSONDecoder().decode(RawInputEvent.self, from: Data(value))
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            return .failure(.init(.notAnObject, "the value is JSON but not an object"))
        } catch {
            return .failure(.init(.malformedJSON, "the value is not valid JSON"))
        }
        do {
            let eventID = try identifier(raw.eventID, "event_id")
            let userID = try identifier(raw.userID, "user_id")
            if let key, !key.isEmpty, key != Array(userID.utf8) {
                throw EventRejection(.keyMismatch, "the record key differs from user_id")
            }
            let ts = try timestamp(raw.ts)
            if ts < nowMs - windowMs {
                throw EventRejection(.tooOld, "ts \(ts) is older than the \(windowMs / 86_400_000)-day window (now \(nowMs))")
            }
            if ts > nowMs + skewMs {
                throw EventRejection(.inFuture, "ts \(ts) is more than \(skewMs) ms after now (\(nowMs))")
            }
            let payload: InputEvent.Payload
            switch kind {
            case .text:
                let text = try raw.text.required("text", "a string")
                let bytes = text.utf8.count
                if bytes > maxTextBytes {
                    throw EventRejection(.textTooLong, "'text' has \(bytes) bytes, the limit is \(maxTextBytes)")
                }
                payload = .text(text)
            case .tabular(let featureCount):
                payload = .features(try features(raw.features.required("features", "an array of numbers"),
                                                 count: featureCount))
            }
            return .success(InputEvent(modality: modality, eventID: eventID, userID: userID, timestampMs: ts,
                                       payload: payload))
        } catch let rejection as EventRejection {
            return .failure(rejection)
        } catch {
            return .failure(.init(.malformedJSON, "\(error)"))
        }
    }

    private func identifier(_ field: RawField<String>, _ name: String) throws -> String {
        let value = try field.required(name, "a string")
        if value.isEmpty { throw EventRejection(.missingField, "'\(name)' is empty") }
        if value.utf8.count > maxIDBytes {
            throw EventRejection(.fieldTooLong, "'\(name)' has \(value.utf8.count) bytes, the limit is \(maxIDBytes)")
        }
        return value
    }

    private func timestamp(_ field: RawField<RawTime>) throws -> Int64 {
        switch try field.required("ts", "integer milliseconds or an ISO-8601 string") {
        case .milliseconds(let ms):
            return ms
        case .text(let text):
            guard let ms = RFC3339Timestamp.milliseconds(text) else {
                throw EventRejection(.wrongType, "'ts' is not an RFC 3339 time (e.g. 2025-11-28T00:00:00Z)")
            }
            return ms
        }
    }

    private func features(_ values: [Double], count: Int) throws -> [Float] {
        guard values.count == count else {
            throw EventRejection(.featureCount, "'features' has \(values.count) numbers, the model expects \(count)")
        }
        var out = [Float](repeating: 0, count: count)
        for (i, value) in values.enumerated() {
            let f = Float(value)
            guard f.isFinite else { throw EventRejection(.nonFiniteFeature, "'features[\(i)]' is not finite in float32") }
            out[i] = f
        }
        return out
    }
}

/// A field of the input JSON as found: absent (or null), of the wrong type, or a value.
enum RawField<Value: Sendable>: Sendable {
    case missing
    case wrongType
    case value(Value)

    func required(_ name: String, _ expected: String) throws -> Value {
        switch self {
        case .missing: throw EventRejection(.missingField, "missing field '\(name)'")
        case .wrongType: throw EventRejection(.wrongType, "'\(name)' must be \(expected)")
        case .value(let value): return value
        }
    }
}

/// `ts` as written: whole milliseconds or text.
enum RawTime: Sendable {
    case milliseconds(Int64)
    case text(String)
}

/// The input JSON object, decoded leniently so each problem can be named (Codable is strict about booleans vs
/// numbers, which `JSONSerialization` is not on every platform).
struct RawInputEvent: Decodable {
    var eventID: RawField<String>
    var userID: RawField<String>
    var ts: RawField<RawTime>
    var text: RawField<String>
    var features: RawField<[Double]>

    private enum Key: String, CodingKey {
        case eventID = "event_id", userID = "user_id", ts, text, features
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func field<T: Decodable>(_ key: Key, _ type: T.Type) -> RawField<T> {
            do {
                guard let value = try c.decodeIfPresent(type, forKey: key) else { return .missing }
                return .value(value)
            } catch {
                return .wrongType
            }
        }
        eventID = field(.eventID, String.self)
        userID = field(.userID, String.self)
        text = field(.text, String.self)
        features = field(.features, [Double].self)
        switch field(.ts, Int64.self) {
        case .value(let ms): ts = .value(.milliseconds(ms))
        case .missing: ts = .missing
        case .wrongType:
            if case .value(let text) = field(.ts, String.self) { ts = .value(.text(text)) } else { ts = .wrongType }
        }
    }
}
