import Foundation

/// Parses and validates input records (DESIGN §4): one JSON object per record,
/// `{"event_id", "user_id", "ts", "text"}` for text modalities or `{"event_id", "user_id", "ts", "features"}` for
/// tabular. Rules: UTF-8; `event_id` and `user_id` non-empty strings of at most `maxIDBytes`; the record key, when
/// set, equals `user_id`; `ts` (integer milliseconds since the epoch, or an ISO-8601 string with a zone) inside
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
            guard let ms = EventTime.parseISO8601(text) else {
                throw EventRejection(.wrongType, "'ts' is not an ISO-8601 time with a zone (e.g. 2025-11-28T00:00:00Z)")
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

/// Event-time parsing shared by the daemon and the CLI.
public enum EventTime {
    /// Milliseconds since the epoch for an ISO-8601 date-time with a zone (`Z` or `±hh:mm`), optional fraction.
    public static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        // YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for b in bytes[start..<start + count] {
                guard b >= 48 && b <= 57 else { return nil }
                value = value * 10 + Int(b - 48)
            }
            return value
        }
        func expect(_ index: Int, _ char: UInt8) -> Bool { index < bytes.count && bytes[index] == char }
        guard let year = digits(0, 4), expect(4, 45), let month = digits(5, 2), expect(7, 45),
              let day = digits(8, 2), expect(10, 84) || expect(10, 116) || expect(10, 32),
              let hour = digits(11, 2), expect(13, 58), let minute = digits(14, 2), expect(16, 58),
              let second = digits(17, 2) else { return nil }
        guard (1...12).contains(month), (1...daysIn(month, year)).contains(day), hour < 24, minute < 60,
              second < 61 else { return nil }
        var index = 19
        var millis = 0
        if expect(index, 46) {  // '.'
            index += 1
            var scale = 100
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                millis += Int(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            if index == start { return nil }
        }
        var offsetMinutes = 0
        if expect(index, 90) || expect(index, 122) {  // Z
            index += 1
        } else if expect(index, 43) || expect(index, 45) {  // + or -
            let sign = bytes[index] == 43 ? 1 : -1
            guard let oh = digits(index + 1, 2), expect(index + 3, 58), let om = digits(index + 4, 2),
                  oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
            index += 6
        } else {
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millis)
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
