import Foundation
import Logging
import QAnchorKafka
import QAnchorModel

/// One configuration key, declared once: its dotted name, what it expects, its documentation, how a value found in
/// a file or the environment is checked and stored, and how the current value prints. The table of every key
/// (``DaemonConfiguration/keys``) drives the reader, the `config check` printout, `config keys` and
/// docs/configuration.md (a test keeps that page equal to `config keys --markdown`). Defaults are the
/// `DaemonConfiguration` property initialisers; the table prints them from a default value.
///
/// Threading: a value built on demand; not shared.
public struct ConfigurationKey {
    /// Dotted name, e.g. `kafka.group_id`; `topics.inputs.<modality>` stands for one key per bundle modality.
    public let name: String
    /// What a value must be, for messages and docs: "an integer", "one of json, protobuf", …
    public let expected: String
    /// One line of documentation.
    public let doc: String
    /// Values never printed (librdkafka properties may hold passwords).
    public let secret: Bool
    /// Stores `value` into the configuration, or returns why it cannot ("expected …, found …").
    let store: (inout DaemonConfiguration, ConfigurationValue) -> String?
    /// The current value as text (`(none)` for an unset optional).
    let show: (DaemonConfiguration) -> String

    /// The environment variable that overrides this key: `kafka.group_id` ↔ `QANCHOR_KAFKA_GROUP_ID`.
    public var environmentName: String {
        "QANCHOR_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// The current value of this key in `configuration`, as text (secrets redacted).
    public func value(in configuration: DaemonConfiguration) -> String { show(configuration) }
}

/// A value as written: a scalar (YAML plain or quoted, or an environment variable), a list, a mapping, or null.
enum ConfigurationValue {
    case scalar(String)
    case list([String])
    case mapping([(key: String, value: String)])
    /// A list of mappings of scalars (`scenarios.extra`).
    case records([[(key: String, value: String)]])
    case null

    /// What was found, for messages (`secret`: the shape only).
    func described(secret: Bool) -> String {
        switch self {
        case .scalar(let s): return secret ? "a value" : "'\(s)'"
        case .list(let l): return secret ? "a list of \(l.count) entries" : "a list [\(l.joined(separator: ", "))]"
        case .mapping(let m):
            return secret ? "a mapping of \(m.count) keys" : "a mapping {\(m.map { "\($0.key): \($0.value)" }.joined(separator: ", "))}"
        case .records(let r): return "a list of \(r.count) mappings"
        case .null: return "an empty value (null)"
        }
    }
}

extension ConfigurationKey {
    /// A key whose value is one scalar, converted by `parse` (nil: not of the expected form).
    static func scalar<T>(_ name: String, _ expected: String, _ doc: String,
                          _ path: WritableKeyPath<DaemonConfiguration, T>, optional: Bool = false,
                          parse: @escaping (String) -> T?, print: @escaping (T) -> String) -> ConfigurationKey {
        ConfigurationKey(name: name, expected: expected, doc: doc, secret: false, store: { configuration, value in
            switch value {
            case .scalar(let text):
                guard let parsed = parse(text) else { return "expected \(expected), found '\(text)'" }
                configuration[keyPath: path] = parsed
                return nil
            case .null where optional:
                return nil
            default:
                return "expected \(expected), found \(value.described(secret: false))"
            }
        }, show: { print($0[keyPath: path]) })
    }

    static func string(_ name: String, _ doc: String, _ path: WritableKeyPath<DaemonConfiguration, String>) -> ConfigurationKey {
        scalar(name, "a string", doc, path, parse: { $0 }, print: { $0 })
    }

    /// A string that may be absent (null or missing: none).
    static func optionalString(_ name: String, _ doc: String,
                               _ path: WritableKeyPath<DaemonConfiguration, String?>) -> ConfigurationKey {
        scalar(name, "a string", doc, path, optional: true, parse: { $0 }, print: { $0 ?? "(none)" })
    }

    static func int(_ name: String, _ doc: String, _ path: WritableKeyPath<DaemonConfiguration, Int>) -> ConfigurationKey {
        scalar(name, "an integer", doc, path, parse: { Int($0.trimmingCharacters(in: .whitespaces)) }, print: { String($0) })
    }

    static func bool(_ name: String, _ doc: String, _ path: WritableKeyPath<DaemonConfiguration, Bool>) -> ConfigurationKey {
        scalar(name, "true or false", doc, path, parse: { text in
            switch text.lowercased() {
            case "true", "yes", "on", "1": true
            case "false", "no", "off", "0": false
            default: nil
            }
        }, print: { String($0) })
    }

    /// One of an enumeration's raw values.
    static func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ doc: String,
                                                           _ path: WritableKeyPath<DaemonConfiguration, E>) -> ConfigurationKey
        where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        return scalar(name, "one of \(names.joined(separator: ", "))", doc, path, parse: { E(rawValue: $0) },
                      print: { $0.rawValue })
    }

    /// A list of strings: a YAML list, or one comma-separated string.
    static func list(_ name: String, _ doc: String, _ path: WritableKeyPath<DaemonConfiguration, [String]>) -> ConfigurationKey {
        ConfigurationKey(name: name, expected: "a list of strings (or one comma-separated string)", doc: doc, secret: false,
                         store: { configuration, value in
            switch value {
            case .list(let items): configuration[keyPath: path] = items
            case .scalar(let text): configuration[keyPath: path] = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            default: return "expected a list of strings, found \(value.described(secret: false))"
            }
            return nil
        }, show: { $0[keyPath: path].joined(separator: ",") })
    }

    /// librdkafka properties: a list of `key=value`, a mapping, or one string (entries split at newlines and at
    /// commas followed by `name=`, so values may contain commas). Secret: values are never printed.
    static func properties(_ name: String, _ doc: String,
                           _ path: WritableKeyPath<DaemonConfiguration, [String: String]>) -> ConfigurationKey {
        ConfigurationKey(name: name, expected: "a list of key=value, or a mapping", doc: doc, secret: true,
                         store: { configuration, value in
            let items: [String]
            switch value {
            case .mapping(let pairs):
                for pair in pairs { configuration[keyPath: path][pair.key] = pair.value }
                return nil
            case .list(let list): items = list
            case .scalar(let text): items = splitPropertyList(text)
            case .null, .records: return "expected a list of key=value or a mapping, found \(value.described(secret: true))"
            }
            for (index, item) in items.enumerated() {
                guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                    return "entries must be key=value (entry \(index + 1) has no key before '=')"
                }
                configuration[keyPath: path][String(item[..<eq]).trimmingCharacters(in: .whitespaces)] =
                    String(item[item.index(after: eq)...])
            }
            return nil
        }, show: { configuration in
            configuration[keyPath: path].sorted { $0.key < $1.key }
                .map { "\($0.key)=\(KafkaClientConfiguration.isSecret($0.key) ? "[redacted]" : $0.value)" }
                .joined(separator: ",")
        })
    }

    /// `scenarios.extra`: a list of `{id, query, prototypes_file}` mappings (YAML), or the same list as JSON (an
    /// environment variable).
    static func extraScenarios(_ name: String, _ doc: String) -> ConfigurationKey {
        ConfigurationKey(name: name, expected: "a list of {id, query, prototypes_file} mappings", doc: doc, secret: false,
                         store: { configuration, value in
            var rows: [[(key: String, value: String)]]
            switch value {
            case .records(let r): rows = r
            case .null, .list([]): rows = []
            case .scalar(let text):
                guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
                    return "expected a JSON list of {\"id\", \"query\", \"prototypes_file\"} objects, found '\(text.prefix(80))'"
                }
                rows = parsed.map { object in object.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") } }
            default: return "expected a list of {id, query, prototypes_file} mappings, found \(value.described(secret: false))"
            }
            var out: [DaemonConfiguration.ExtraScenario] = []
            for (index, row) in rows.enumerated() {
                var scenario = DaemonConfiguration.ExtraScenario(id: "", query: "")
                for (field, text) in row {
                    switch field {
                    case "id": scenario.id = text
                    case "query": scenario.query = text
                    case "prototypes_file": scenario.prototypesFile = text
                    default:
                        return "entry \(index + 1): unknown field '\(field)'"
                            + NearestName.suggestion(for: field, among: ["id", "query", "prototypes_file"])
                    }
                }
                out.append(scenario)
            }
            configuration.scenarios.extra = out
            return nil
        }, show: { configuration in
            configuration.scenarios.extra.map { "\($0.id): \($0.query)" + ($0.prototypesFile.map { " (\($0))" } ?? "") }
                .joined(separator: "; ")
        })
    }
}
