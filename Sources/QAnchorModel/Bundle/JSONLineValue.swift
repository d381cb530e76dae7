/// A JSON value as decoded from one input line, keeping integers apart from other numbers.
///
/// `JSONDecoder` rejects non-standard constants (`NaN`, `Infinity`), so they never appear here. A value type.
enum JSONLineValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONLineValue])
    case object([String: JSONLineValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONLineValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONLineValue].self))
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
