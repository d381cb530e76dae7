import Foundation

/// A Hugging Face `config.json`, read as a JSON object (``JSONValue``), with typed accessors whose errors name the file
/// and key.
///
/// Threading: immutable value.
struct ConfigFile: Sendable {
    let path: String
    let object: [String: JSONValue]

    init(url: URL) throws {
        path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelLoadError.badConfig(file: path, key: "", detail: "cannot read: \(error.localizedDescription)")
        }
        guard let object = (try? JSONValue.decode(data))?.objectValue else {
            let syntax = JSONSyntaxError.locate(Array(data)).map { ": \($0)" } ?? ""
            throw ModelLoadError.badConfig(file: path, key: "", detail: "not a JSON object\(syntax)")
        }
        self.object = object
    }

    /// A required positive integer.
    func positiveInt(_ key: String) throws -> Int {
        guard let n = object[key]?.exactInteger else {
            throw ModelLoadError.badConfig(file: path, key: key, detail: "expected an integer, found \(describe(object[key]))")
        }
        guard n > 0, n <= Int32.max else {
            throw ModelLoadError.badConfig(file: path, key: key, detail: "expected a positive integer, found \(n)")
        }
        return Int(n)
    }

    /// A required positive number; `fallbackPath` is a nested path tried when `key` is absent
    /// (e.g. `rope_parameters.rope_theta` in newer transformers configs).
    func positiveDouble(_ key: String, nested: (String, String)? = nil, default defaultValue: Double? = nil) throws -> Double {
        var value = object[key]
        if value == nil, let (outer, inner) = nested { value = object[outer]?.objectValue?[inner] }
        if value == nil, let defaultValue { return defaultValue }
        guard let n = value?.finiteNumber, n > 0 else {
            throw ModelLoadError.badConfig(file: path, key: key, detail: "expected a positive number, found \(describe(value))")
        }
        return n
    }

    /// An optional boolean with a default.
    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value = object[key], !value.isNull else { return defaultValue }
        guard let b = value.boolValue else {
            throw ModelLoadError.badConfig(file: path, key: key, detail: "expected true/false, found \(describe(value))")
        }
        return b
    }

    /// An optional string with a default.
    func string(_ key: String, default defaultValue: String) throws -> String {
        guard let value = object[key], !value.isNull else { return defaultValue }
        guard let s = value.stringValue else {
            throw ModelLoadError.badConfig(file: path, key: key, detail: "expected a string, found \(describe(value))")
        }
        return s
    }

    private func describe(_ value: JSONValue?) -> String {
        guard let value else { return "nothing (key missing)" }
        return value.kindDescription
    }
}
