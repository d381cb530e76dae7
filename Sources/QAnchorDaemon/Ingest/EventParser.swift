import Foundation
import QAnchorModel

/// Parses and validates input records (docs/daemon.md "Input records"): one JSON object per record,
/// `{"event_id", "user_id", "ts", "text"}` for text modalities or `{"event_id", "user_id", "ts", "features"}` for
/// tabular. The fields are read by ``EventFields`` (the same rules as `qanchor embed` and the PyTorch reference);
/// on top of them: UTF-8; `event_id` and `user_id` at most `maxIDBytes`; the record key, when set, equals `user_id`;
/// `ts` inside `[now − window, now + skew]`; `text` at most `maxTextBytes`. Unknown fields are ignored.
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
        let fields: EventFields
        do { fields = try EventFields(json: value) } catch { return .failure(Self.rejection(error)) }
        do {
            let eventID = try identifier(fields, "event_id")
            let userID = try identifier(fields, "user_id")
            if let key, !key.isEmpty, key != Array(userID.utf8) {
                throw EventRejection(.keyMismatch, "the record key differs from user_id")
            }
            let ts = try fields.timestamp()
            if ts < nowMs - windowMs {
                throw EventRejection(.tooOld, "ts \(ts) is older than the \(windowMs / 86_400_000)-day window (now \(nowMs))")
            }
            if ts > nowMs + skewMs {
                throw EventRejection(.inFuture, "ts \(ts) is more than \(skewMs) ms after now (\(nowMs))")
            }
            let payload: InputEvent.Payload
            switch kind {
            case .text:
                let text = try fields.text()
                let bytes = text.utf8.count
                if bytes > maxTextBytes {
                    throw EventRejection(.textTooLong, "'text' has \(bytes) bytes, the limit is \(maxTextBytes)")
                }
                payload = .text(text)
            case .tabular(let featureCount):
                payload = .features(try fields.features(count: featureCount))
            }
            return .success(InputEvent(modality: modality, eventID: eventID, userID: userID, timestampMs: ts,
                                       payload: payload))
        } catch let rejection as EventRejection {
            return .failure(rejection)
        } catch let problem as EventFieldProblem {
            return .failure(Self.rejection(problem))
        } catch {
            return .failure(.init(.malformedJSON, "\(error)"))
        }
    }

    private func identifier(_ fields: EventFields, _ name: String) throws -> String {
        let value = try fields.identifier(name)
        if value.utf8.count > maxIDBytes {
            throw EventRejection(.fieldTooLong, "'\(name)' has \(value.utf8.count) bytes, the limit is \(maxIDBytes)")
        }
        return value
    }

    /// A field problem as a dead-letter reason. Details name the field and the rule, never the value.
    static func rejection(_ problem: EventFieldProblem) -> EventRejection {
        switch problem {
        case .malformedJSON(let detail):
            return EventRejection(.malformedJSON, "the value is not valid JSON" + (detail.map { ": \($0)" } ?? ""))
        case .notAnObject: return EventRejection(.notAnObject, "the value is JSON but not an object")
        case .missing(let field): return EventRejection(.missingField, "missing field '\(field)'")
        case .empty(let field): return EventRejection(.missingField, "'\(field)' is empty")
        case .wrongType(let field, let expected): return EventRejection(.wrongType, "'\(field)' must be \(expected)")
        case .featureCount(let found, let expected):
            return EventRejection(.featureCount, "'features' has \(found) numbers, the model expects \(expected)")
        case .nonNumericFeature(let i): return EventRejection(.wrongType, "'features[\(i)]' is not a number")
        case .nonFiniteFeature(let i): return EventRejection(.nonFiniteFeature, "'features[\(i)]' is not finite in float32")
        }
    }
}
