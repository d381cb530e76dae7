import Foundation

/// A read-only view of one JSON object inside a `tokenizer.json` (decoded as ``JSONValue``), with typed accessors that
/// throw `TokenizerError` naming the file and the key path. Used only while loading, on the loading thread.
struct TokenizerJSON {
    let file: String
    let path: String
    let object: [String: JSONValue]

    /// Parses `data` as the top-level object of `file`.
    static func parse(_ data: Data, file: String) throws(TokenizerError) -> TokenizerJSON {
        let value: JSONValue
        do {
            value = try JSONValue.decode(data)
        } catch {
            throw .malformedJSON(file: file, reason: JSONSyntaxError.locate(Array(data))?.description ?? "not valid JSON")
        }
        guard let object = value.objectValue else {
            throw .malformedJSON(file: file, reason: "top level is \(value.kindDescription), not an object")
        }
        return TokenizerJSON(file: file, path: "", object: object)
    }

    /// The key path of `key` below this object, e.g. `model.vocab`.
    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Whether `key` is absent or JSON `null`.
    func isNull(_ key: String) -> Bool { object[key]?.isNull ?? true }

    func value(_ key: String) throws(TokenizerError) -> JSONValue {
        guard let v = object[key] else { throw .missingKey(file: file, key: keyPath(key)) }
        return v
    }

    func object(_ key: String) throws(TokenizerError) -> TokenizerJSON {
        let v = try value(key)
        guard let o = v.objectValue else { throw mismatch(key, "an object", v) }
        return TokenizerJSON(file: file, path: keyPath(key), object: o)
    }

    /// The object at `key`, or nil when the key is absent or null.
    func optionalObject(_ key: String) throws(TokenizerError) -> TokenizerJSON? {
        isNull(key) ? nil : try object(key)
    }

    func array(_ key: String) throws(TokenizerError) -> [JSONValue] {
        let v = try value(key)
        guard let a = v.arrayValue else { throw mismatch(key, "an array", v) }
        return a
    }

    /// Element `index` of the array at `key`, which must be an object (`path` is `key[index]`).
    func element(_ value: JSONValue, of key: String, at index: Int) throws(TokenizerError) -> TokenizerJSON {
        let path = "\(keyPath(key))[\(index)]"
        guard let o = value.objectValue else {
            throw .invalidValue(file: file, key: path, expected: "an object", found: value.kindDescription)
        }
        return TokenizerJSON(file: file, path: path, object: o)
    }

    func string(_ key: String) throws(TokenizerError) -> String {
        let v = try value(key)
        guard let s = v.stringValue else { throw mismatch(key, "a string", v) }
        return s
    }

    /// The string at `key`, or nil when the key is absent or null.
    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        isNull(key) ? nil : try string(key)
    }

    func bool(_ key: String) throws(TokenizerError) -> Bool {
        let v = try value(key)
        guard let b = v.boolValue else { throw mismatch(key, "a boolean", v) }
        return b
    }

    /// The boolean at `key`, or `defaultValue` when the key is absent; null is `nil`.
    func optionalBool(_ key: String, default defaultValue: Bool?) throws(TokenizerError) -> Bool? {
        guard let v = object[key] else { return defaultValue }
        if v.isNull { return nil }
        return try bool(key)
    }

    func int(_ key: String) throws(TokenizerError) -> Int {
        let v = try value(key)
        guard let n = Self.integer(v) else { throw mismatch(key, "an integer", v) }
        return n
    }

    /// The integer value of a JSON number that is integral, else nil.
    static func integer(_ v: JSONValue) -> Int? {
        v.exactInteger.map { Int($0) }
    }

    func mismatch(_ key: String, _ expected: String, _ found: JSONValue) -> TokenizerError {
        .invalidValue(file: file, key: keyPath(key), expected: expected, found: found.kindDescription)
    }
}
