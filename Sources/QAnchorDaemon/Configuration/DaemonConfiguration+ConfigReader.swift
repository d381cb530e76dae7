import Foundation
import QAnchorModel
import Yams

/// Reading `DaemonConfiguration`: a YAML file, overridden key by key by `QANCHOR_*` environment variables
/// (`kafka.group_id` ↔ `QANCHOR_KAFKA_GROUP_ID`). Every key is declared once in ``DaemonConfiguration/keys``
/// (docs/configuration.md). Strict: an unknown key (with the nearest known one suggested), a list or mapping where a
/// scalar belongs, a value of the wrong type or outside its enumeration, a key set twice — each is an error naming
/// the key, the value found, what was expected and where (file line, or environment variable), and every problem in
/// the file and the environment is reported in one run. Keys may be nested (`kafka: {group_id: x}`) or dotted
/// (`kafka.group_id: x`).
extension DaemonConfiguration {
    /// Reads the YAML file at `path` (optional) with `QANCHOR_*` environment overrides, for the bundle's modalities
    /// (nil: not known, `topics.inputs.*` keys are not checked), checks the result (``problems()``) and throws
    /// ``ConfigurationProblems`` with every problem found.
    public static func load(file path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            modalities: [String]?) async throws -> DaemonConfiguration {
        let reader = try settings(file: path, environment: environment)
        var c = DaemonConfiguration()
        var problems = reader.problems
        let byName = Dictionary(keys.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for setting in reader.settings {
            func problem(_ text: String) {
                problems.append(ConfigurationError(key: setting.key, problem: "\(text) (\(setting.origin))"))
            }
            if let modality = setting.key.dropPrefix(ConfigurationSettings.inputsPrefix) {
                guard let modalities else { continue }
                guard modalities.contains(modality) else {
                    problem("the bundle has no modality '\(modality)' (its modalities: \(modalities.joined(separator: ", ")))")
                    continue
                }
                guard case .scalar(let topic) = setting.value, !topic.isEmpty else {
                    problem("expected a topic name, found \(setting.value.described(secret: false))")
                    continue
                }
                c.topics.inputs[modality] = topic
            } else if let key = byName[setting.key], let failure = key.store(&c, setting.value) {
                problem(failure)
            }
        }
        problems += c.problems()
        if !problems.isEmpty { throw ConfigurationProblems(problems: problems) }
        return c
    }

    /// `model.bundle` as the file and the environment set it, whatever else is wrong (the bundle's modalities decide
    /// which `topics.inputs.*` keys exist, so it is read first).
    public static func bundlePath(file path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let reader = try? settings(file: path, environment: environment) else { return nil }
        for setting in reader.settings.reversed() where setting.key == "model.bundle" {
            if case .scalar(let bundle) = setting.value, !bundle.isEmpty { return bundle }
        }
        return nil
    }

    private static func settings(file path: String?, environment: [String: String]) throws -> ConfigurationSettings {
        var reader = ConfigurationSettings(keys: keys)
        if let path {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw ConfigurationError(key: "(file)", problem: "cannot read \(path): \(error.localizedDescription)")
            }
            try reader.read(yaml: text, file: path)
        }
        reader.read(environment: environment)
        return reader
    }
}

/// Every problem found in a configuration, each naming its key.
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigurationError]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// The settings found in a YAML file and the environment, flattened to dotted keys, in the order they apply (file,
/// then environment), with the problems of their form (unknown keys, nesting, duplicates).
struct ConfigurationSettings {
    struct Setting {
        let key: String
        let value: ConfigurationValue
        /// Where it was written: `file.yaml line 3`, or `environment QANCHOR_KAFKA_GROUP_ID`.
        let origin: String
    }

    static let inputsPrefix = "topics.inputs."

    private let names: Set<String>
    /// Proper prefixes of key names (`kafka`, `topics`, `topics.inputs`): mappings that hold keys.
    private let sections: Set<String>
    private let environmentNames: [String: String]
    private(set) var settings: [Setting] = []
    private(set) var problems: [ConfigurationError] = []

    init(keys: [ConfigurationKey]) {
        let plain = keys.map(\.name).filter { !$0.contains("<") }
        names = Set(plain)
        var sections: Set<String> = []
        for name in keys.map(\.name) {
            var parts = name.split(separator: ".").dropLast()
            while !parts.isEmpty { sections.insert(parts.joined(separator: ".")); parts = parts.dropLast() }
        }
        self.sections = sections
        environmentNames = Dictionary(keys.filter { !$0.name.contains("<") }.map { ($0.environmentName, $0.name) },
                                      uniquingKeysWith: { a, _ in a })
    }

    // MARK: YAML

    mutating func read(yaml text: String, file: String) throws {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError(key: "(file)", problem: "\(file) is not valid YAML: \(error)")
        }
        guard let root else { return }  // empty file
        var seen: [String: Int] = [:]
        walk(root, path: "", file: file, seen: &seen)
    }

    private mutating func walk(_ node: Node, path: String, file: String, seen: inout [String: Int]) {
        let line = node.mark?.line ?? 0
        let origin = "\(file) line \(line)"
        if names.contains(path) || (path.hasPrefix(Self.inputsPrefix) && path.count > Self.inputsPrefix.count) {
            if let first = seen[path] {
                problems.append(ConfigurationError(key: path, problem: "set twice (\(file) lines \(first) and \(line))"))
                return
            }
            seen[path] = line
            switch Self.value(of: node) {
            case .success(let value): settings.append(Setting(key: path, value: value, origin: origin))
            case .failure(let why): problems.append(ConfigurationError(key: path, problem: "\(why.text) (\(origin))"))
            }
            return
        }
        if path.isEmpty || sections.contains(path) {
            // An empty section (`refresh:` with every key commented out) sets nothing.
            if case .scalar(let scalar) = node, Self.isNull(scalar) { return }
            guard case .mapping(let mapping) = node else {
                let what = path.isEmpty ? "the file" : "'\(path)'"
                problems.append(ConfigurationError(key: path.isEmpty ? "(file)" : path,
                                                   problem: "\(what) must be a mapping of keys (\(origin))"))
                return
            }
            for (key, value) in mapping {
                guard case .scalar(let name) = key else {
                    problems.append(ConfigurationError(key: path, problem: "a key that is not a plain name (\(origin))"))
                    continue
                }
                walk(value, path: path.isEmpty ? name.string : "\(path).\(name.string)", file: file, seen: &seen)
            }
            return
        }
        problems.append(ConfigurationError(key: path, problem: "unknown key\(NearestName.suggestion(for: path, among: names)) (\(origin))"))
    }

    /// A YAML node as a configuration value: scalars, lists of scalars, mappings of scalars.
    private static func value(of node: Node) -> Result<ConfigurationValue, FormProblem> {
        switch node {
        case .scalar(let scalar):
            return .success(isNull(scalar) ? .null : .scalar(scalar.string))
        case .sequence(let sequence):
            if let first = sequence.first, case .mapping = first {
                var rows: [[(key: String, value: String)]] = []
                for element in sequence {
                    guard case .mapping(let mapping) = element else {
                        return .failure(FormProblem(text: "a list of mappings may hold only mappings"))
                    }
                    var pairs: [(key: String, value: String)] = []
                    for (key, value) in mapping {
                        guard case .scalar(let k) = key, case .scalar(let v) = value else {
                            return .failure(FormProblem(text: "a mapping in the list may hold only plain values"))
                        }
                        pairs.append((k.string, v.string))
                    }
                    rows.append(pairs)
                }
                return .success(.records(rows))
            }
            var items: [String] = []
            for element in sequence {
                guard case .scalar(let scalar) = element else { return .failure(FormProblem(text: "a list may hold only plain values")) }
                items.append(scalar.string)
            }
            return .success(.list(items))
        case .mapping(let mapping):
            var pairs: [(key: String, value: String)] = []
            for (key, value) in mapping {
                guard case .scalar(let k) = key, case .scalar(let v) = value else {
                    return .failure(FormProblem(text: "a mapping may hold only plain values here"))
                }
                pairs.append((k.string, v.string))
            }
            return .success(.mapping(pairs))
        case .alias:
            return .failure(FormProblem(text: "YAML aliases are not supported"))
        }
    }

    private struct FormProblem: Error { let text: String }

    private static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: environment

    /// `QANCHOR_<KEY>` for every key; `QANCHOR_TOPICS_INPUTS_<MODALITY>`. A variable under a section's prefix
    /// (`QANCHOR_KAFKA_…`) that names no key is an error; other `QANCHOR_*` variables (scripts' own) are not ours.
    mutating func read(environment: [String: String]) {
        let sectionPrefixes = Set(sections.filter { !$0.contains(".") }.map { "QANCHOR_\($0.uppercased())_" })
        let inputs = "QANCHOR_TOPICS_INPUTS_"
        for (variable, value) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix("QANCHOR_") {
            let origin = "environment \(variable)"
            if let key = environmentNames[variable] {
                settings.append(Setting(key: key, value: .scalar(value), origin: origin))
            } else if variable.hasPrefix(inputs), variable.count > inputs.count {
                settings.append(Setting(key: Self.inputsPrefix + variable.dropFirst(inputs.count).lowercased(),
                                        value: .scalar(value), origin: origin))
            } else if sectionPrefixes.contains(where: { variable.hasPrefix($0) }) {
                let known = Set(environmentNames.keys)
                problems.append(ConfigurationError(key: variable, problem:
                    "unknown configuration variable\(NearestName.suggestion(for: variable, among: known)) (\(origin))"))
            }
        }
    }
}

extension String {
    /// The rest after `prefix` when it starts with it and has more, else nil.
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) && count > prefix.count ? String(dropFirst(prefix.count)) : nil
    }
}

/// Splits `a=1,b=x,y\nc=2` into `["a=1", "b=x,y", "c=2"]`: entries end at a newline, or at a comma followed by
/// (optional spaces and) a property name and `=`. Values with commas (`ssl.cipher.suites=A,B`,
/// `bootstrap.servers=h1:9092,h2:9092`) therefore stay whole. Empty entries are dropped.
func splitPropertyList(_ text: String) -> [String] {
    var entries: [String] = []
    for line in text.split(whereSeparator: \.isNewline) {
        var current = ""
        var rest = Substring(line)
        while let comma = rest.firstIndex(of: ",") {
            current += rest[..<comma]
            let after = rest[rest.index(after: comma)...]
            let trimmed = after.drop { $0 == " " || $0 == "\t" }
            let name = trimmed.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            if !name.isEmpty, trimmed.dropFirst(name.count).first == "=" {
                entries.append(current)
                current = ""
                rest = trimmed
            } else {
                current += ","
                rest = after
            }
        }
        current += rest
        entries.append(current)
    }
    return entries.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
