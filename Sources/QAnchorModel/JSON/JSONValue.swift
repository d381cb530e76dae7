import Foundation

/// A JSON value decoded with `JSONDecoder`, keeping integers apart from other numbers: the one way the engine reads
/// JSON whose shape is open or whose errors must name a key path (event lines, `tokenizer.json`, `config.json`, the
/// safetensors header). Closed shapes decode straight into `Codable` types.
///
/// `JSONDecoder` rejects non-standard constants (`NaN`, `Infinity`), so they never appear here. A value type.
enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Strings first: the most common value in the large files (vocabularies, merges); JSONDecoder never decodes a
        // string from a number or a boolean, nor a number from a boolean, so the order does not change the result.
        if c.decodeNil() {
            self = .null
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// Decodes a whole document. Throws the decoder's error for malformed JSON (``JSONSyntaxError`` locates it).
    static func decode(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// The members of an object, else nil.
    var objectValue: [String: JSONValue]? { if case let .object(o) = self { o } else { nil } }
    /// The elements of an array, else nil.
    var arrayValue: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    /// The text of a string, else nil.
    var stringValue: String? { if case let .string(s) = self { s } else { nil } }
    /// The value of a boolean, else nil.
    var boolValue: Bool? { if case let .bool(b) = self { b } else { nil } }
    /// Whether this is JSON `null`.
    var isNull: Bool { self == .null }

    /// What the value is, for messages: `string "…"`, `number 3`, `boolean true`, `an array of 2 elements`, …
    var kindDescription: String {
        switch self {
        case let .string(s): return "string \"\(s.prefix(60))\""
        case .integer, .number: return "number \(summary)"
        case .bool: return "boolean \(summary)"
        case let .array(a): return "an array of \(a.count) elements"
        case .null, .object: return summary
        }
    }

    /// The value as an exact integer: an integer, or a number with no fractional part and magnitude ≤ 2^53.
    var exactInteger: Int64? {
        switch self {
        case let .integer(i): return i
        case let .number(d):
            guard d.isFinite, d.rounded(.towardZero) == d, abs(d) <= 9_007_199_254_740_992 else { return nil }
            return Int64(d)
        default: return nil
        }
    }

    /// A finite number as Double (integers converted).
    var finiteNumber: Double? {
        switch self {
        case let .integer(i): return Double(i)
        case let .number(d): return d.isFinite ? d : nil
        default: return nil
        }
    }

    /// A short rendering for messages.
    var summary: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return "\(b)"
        case let .integer(i): return "\(i)"
        case let .number(d): return "\(d)"
        case let .string(s): return "'\(s.prefix(40))'"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
