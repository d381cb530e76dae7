import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor config check` as an operator runs it: a configuration that would silently mean something else is refused
/// (rc ≠ 0) with an error naming the key, what was found and what was expected; a good one prints its values.
@Suite("qanchor config check")
struct ConfigCheckCommandTests {
    static let root = TestBroker.repositoryRoot
    static let bundle = root.appendingPathComponent("testdata/models/tiny").path

    /// A valid file plus `extra` (YAML appended at the top level).
    static func check(_ extra: String, environment: [String: String] = [:],
                      bundle: String = bundle) throws -> (status: Int32, output: String, errors: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("qanchor.yaml")
        try """
        model:
          bundle: \(bundle)
        store:
          path: \(directory.appendingPathComponent("store").path)
        \(extra)
        """.write(to: file, atomically: true, encoding: .utf8)
        return try QAnchorExecutable.run(["config", "check", file.path], environment: environment)
    }

    /// Each bad configuration with the words its error must contain (the key, and what was found).
    static let badFiles: [(yaml: String, mentions: [String])] = [
        ("kafka:\n  session_timeout_ms: [6000]", ["kafka.session_timeout_ms", "[6000]", "an integer"]),
        ("http:\n  port: [8081]", ["http.port", "[8081]"]),
        ("store.durable: [true]", ["store.durable", "[true]", "true or false"]),
        ("kafka:\n  group_id: {a: 1}", ["kafka.group_id", "a mapping", "a string"]),
        ("kafka:\n  sesion_timeout_ms: 6000", ["kafka.sesion_timeout_ms", "unknown key", "did you mean 'kafka.session_timeout_ms'"]),
        ("kafka:\n  grup_id: g", ["kafka.grup_id", "did you mean 'kafka.group_id'"]),
        ("http:\n  port: 99999", ["http.port", "99999", "0…65535"]),
        ("store.commit: sometimes", ["store.commit", "'sometimes'", "per_request, journaled"]),
        ("kafka:\n  assignment_strategy: sticky", ["kafka.assignment_strategy", "'sticky'", "cooperative-sticky"]),
        ("log:\n  level: verbose", ["log.level", "'verbose'"]),
        ("kafka: 5", ["kafka", "must be a mapping"]),
        ("topics:\n  inputs:\n    bil: x.events", ["topics.inputs.bil", "no modality 'bil'"]),
        ("kafka:\n  group_id: a\nkafka.group_id: b", ["kafka.group_id", "set twice"]),
        ("kafka:\n  properties: [\"novalue\"]", ["kafka.properties", "key=value"]),
        ("kafka:\n  group_instance_id: [a, b]", ["kafka.group_instance_id", "a list"]),
    ]

    @Test(arguments: badFiles.indices)
    func aBadFileIsRefusedNamingTheKey(_ index: Int) throws {
        let (yaml, mentions) = Self.badFiles[index]
        let (status, output, errors) = try Self.check(yaml)
        #expect(status != 0, "accepted:\n\(yaml)\n\(output)")
        for word in mentions { #expect(errors.contains(word), "'\(word)' missing from: \(errors)") }
    }

    @Test func everyProblemIsReportedInOneRun() throws {
        let (status, _, errors) = try Self.check("kafka:\n  grup_id: g\n  session_timeout_ms: [1]\nhttp:\n  port: 99999",
                                                 environment: ["QANCHOR_STORE_DURABLE": "maybe"])
        #expect(status != 0)
        for key in ["kafka.grup_id", "kafka.session_timeout_ms", "http.port", "store.durable"] {
            #expect(errors.contains(key), "\(key) missing from: \(errors)")
        }
        #expect(errors.contains("line 7") || errors.contains("line 8"), "no line number in: \(errors)")
    }

    @Test func environmentOverridesGoThroughTheSameChecks() throws {
        let unknown = try Self.check("", environment: ["QANCHOR_KAFKA_GRUP_ID": "g"])
        #expect(unknown.status != 0)
        #expect(unknown.errors.contains("QANCHOR_KAFKA_GRUP_ID") && unknown.errors.contains("QANCHOR_KAFKA_GROUP_ID"))
        let badType = try Self.check("", environment: ["QANCHOR_HTTP_PORT": "eighty"])
        #expect(badType.status != 0 && badType.errors.contains("http.port") && badType.errors.contains("'eighty'"))
        // Variables of the scripts (not under a configuration section) are not the daemon's.
        let good = try Self.check("", environment: ["QANCHOR_STATE_DIR": "/tmp/x", "QANCHOR_KAFKA_GROUP_ID": "from-env"])
        #expect(good.status == 0, "\(good.errors)")
        #expect(good.output.contains("kafka.group_id: from-env"))
    }

    @Test func kafkaPropertiesAsAMappingAreKeptAndSecretsRedacted() throws {
        let (status, output, errors) = try Self.check("""
        kafka:
          properties:
            security.protocol: SASL_SSL
            sasl.password: hunter2
        """)
        #expect(status == 0, "\(errors)")
        #expect(output.contains("security.protocol=SASL_SSL"))
        #expect(output.contains("sasl.password=[redacted]") && !output.contains("hunter2"))
    }

    @Test func flatDottedKeysAndNullOptionalsAreAccepted() throws {
        let (status, output, errors) = try Self.check("kafka.group_id: flat\nhttp:\n  advertised_url:\nrefresh:\n  # every key commented out\n")
        #expect(status == 0, "\(errors)")
        #expect(output.contains("kafka.group_id: flat"))
        #expect(output.contains("http.advertised_url: (none)"))
    }

    /// Bundle manifests get the same strictness: a misspelt or extra key is an error naming its path.
    @Test(arguments: [
        ("modalities", 0, "max_events", "max_evnts", "modalities[0].max_evnts", "did you mean 'max_events'"),
        ("", -1, "", "extra_key", "extra_key", "unknown key"),
        ("", -1, "window_days", "window_days", "window_days", "found string \"ninety\""),
    ])
    func aManifestWithAnUnknownKeyIsRefused(_ list: String, _ index: Int, _ old: String, _ new: String,
                                            _ field: String, _ mention: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bundle-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.bundle), to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifestURL = directory.appendingPathComponent("qanchor.json")
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        if list.isEmpty {
            if old.isEmpty { manifest[new] = 1 } else { manifest[new] = "ninety" }
        } else {
            var items = try #require(manifest[list] as? [[String: Any]])
            items[index][new] = items[index].removeValue(forKey: old)
            manifest[list] = items
        }
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        let (status, _, errors) = try Self.check("", bundle: directory.path)
        #expect(status != 0)
        #expect(errors.contains(field) && errors.contains(mention), "\(errors)")
    }

    /// The configuration shipped in the Kubernetes manifests passes the strict checks (with a local bundle and store).
    @Test func theDeployedConfigurationIsValid() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("ops/deploy/statefulset.yaml"), encoding: .utf8)
        let lines = manifest.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex { $0.contains("qanchor.yaml: |") })
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-k8s-\(UUID().uuidString)")
        let block = lines[(start + 1)...].prefix { $0.hasPrefix("    ") || $0.isEmpty }.map { String($0.dropFirst(4)) }
            .joined(separator: "\n")
            .replacingOccurrences(of: "/models/qanchor", with: Self.bundle)
            .replacingOccurrences(of: "/var/lib/qanchor", with: store.path)
        let file = store.appendingPathExtension("yaml")
        try block.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output, errors) = try QAnchorExecutable.run(["config", "check", file.path])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("scaling.standby_replicas: 1"))
    }

    /// docs/configuration.md lists exactly the keys the reader knows (`config keys --markdown`).
    @Test func theConfigurationPageIsTheKeyTable() throws {
        let (status, output, errors) = try QAnchorExecutable.run(["config", "keys", "--markdown"])
        #expect(status == 0, "\(errors)")
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        #expect(page.contains(output.trimmingCharacters(in: .whitespacesAndNewlines)),
                "docs/configuration.md is out of date: regenerate its table with `qanchor config keys --markdown`")
        #expect(output.split(separator: "\n").count > 50)
    }

    /// `qanchor --version` names the version and the commit of this checkout.
    @Test func versionNamesTheCommit() throws {
        let (status, output, errors) = try QAnchorExecutable.run(["--version"])
        #expect(status == 0, "\(errors)")
        #expect(output.hasPrefix("qanchor "), "\(output)")
        let head = try Subprocess.run("/usr/bin/git", ["-C", Self.root.path, "rev-parse", "--short=12", "HEAD"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(head.isEmpty || output.contains("commit \(head)"), "\(output) vs HEAD \(head)")
        #expect(output.contains("built 20"))
    }
}
