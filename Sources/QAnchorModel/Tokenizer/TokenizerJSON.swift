import Foundation

/// A read-only view of one JSON object inside a `tokenizer.json`, with typed accessors that throw
/// `TokenizerError` naming the file and the key path. Used only while loading, on the loading thread.
struct TokenizerJSON {
    let file: String
    let path: String
    let object: [String: Any]

    /// Parses `data` as the top-level object of `file`.
    static func parse(_ data: Data, file: String) throws(TokenizerError) -> TokenizerJSON {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw .malformedJSON(file: file, reason: String(describing: error))
        }
        guard let object = value as? [String: Any] else {
            throw .malformedJSON(file: file, reason: "top level is \(Self.describe(value)), not an object")
        }
        return TokenizerJSON(file: file, path: "", object: object)
    }

    /// The key path of `key` below this object, e.g. `model.vocab`.
    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Whether `key` is absent or JSON `null`.
    func isNull(_ key: String) -> Bool { object[key] == nil || object[key] is NSNull }

    func value(_ key: String) throws(TokenizerError) -> Any {
        guard let v = object[key] else { throw .missingKey(file: file, key: keyPath(key)) }
        return v
    }

    func object(_ key: String) throws(TokenizerError) -> TokenizerJSON {
        let v = try value(key)
        guard let o = v as? [String: Any] else { throw mismatch(key, "an object", v) }
        return TokenizerJSON(file: file, path: keyPath(key), object: o)
    }

    /// The object at `key`, or nil when the key is absent or null.
    func optionalObject(_ key: String) throws(TokenizerError) -> TokenizerJSON? {
        isNull(key) ? nil : try object(key)
    }

    func array(_ key: String) throws(TokenizerError) -> [Any] {
        let v = try value(key)
        guard let a = v as? [Any] else { throw mismatch(key, "an array", v) }
        return a
    }

    func string(_ key: String) throws(TokenizerError) -> String {
        let v = try value(key)
        guard let s = v as? String else { throw mismatch(key, "a string", v) }
        return s
    }

    /// The string at `key`, or nil when the key is absent or null.
    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        isNull(key) ? nil : try string(key)
    }

    func bool(_ key: String) throws(TokenizerError) -> Bool {
        let v = try value(key)
        guard let n = v as? NSNumber, Self.isBool(n) else { throw mismatch(key, "a boolean", v) }
        return n.boolValue
    }

    /// The boolean at `key`, or `defaultValue` when the key is absent; null is `nil`.
    func optionalBool(_ key: String, default defaultValue: Bool?) throws(TokenizerError) -> Bool? {
        if object[key] == nil { return defaultValue }
        if object[key] is NSNull { return nil }
        return try bool(key)
    }

    func int(_ key: String) throws(TokenizerError) -> Int {
        let v = try value(key)
        guard let n = Self.integer(v) else { throw mismatch(key, "an integer", v) }
        return n
    }

    /// The integer value of a JSON number that is integral, else nil.
    static func integer(_ v: Any) -> Int? {
        guard let n = v as? NSNumber, !isBool(n) else { return nil }
        let d = n.doubleValue
        guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// JSONSerialization gives JSON booleans as NSNumber whose Objective-C type is `char` ("c") on both
    /// Darwin and Linux; JSON numbers never get that type.
    static func isBool(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c"
    }

    func mismatch(_ key: String, _ expected: String, _ found: Any) -> TokenizerError {
        .invalidValue(file: file, key: keyPath(key), expected: expected, found: Self.describe(found))
    }

    /// A short description of a JSON value for error messages.
    static func describe(_ v: Any) -> String {
        switch v {
        case is NSNull: return "null"
        case let s as String: return "string \"\(s.prefix(60))\""
        case let n as NSNumber: return isBool(n) ? "boolean \(n.boolValue)" : "number \(n)"
        case let a as [Any]: return "an array of \(a.count) elements"
        case is [String: Any]: return "an object"
        default: return "\(type(of: v))"
        }
    }
}
