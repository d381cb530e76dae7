import Configuration
import Foundation
import SystemPackage

/// Reading `DaemonConfiguration` from swift-configuration: a YAML file, overridden key by key by `QANCHOR_*`
/// environment variables (`kafka.group_id` ↔ `QANCHOR_KAFKA_GROUP_ID`).
///
/// | key | type | default |
/// |---|---|---|
/// | `kafka.bootstrap_servers` | [string] (env: comma-separated) | `127.0.0.1:9092` |
/// | `kafka.group_id` | string | `qanchor` |
/// | `kafka.group_instance_id` | string | none (dynamic membership) |
/// | `kafka.client_id` | string | `qanchor` |
/// | `kafka.session_timeout_ms` | int | 45000 |
/// | `kafka.max_poll_interval_ms` | int | 300000 |
/// | `kafka.assignment_strategy` | `cooperative-sticky`/`range`/`roundrobin` (of the lead input topic) | `cooperative-sticky` |
/// | `kafka.partitioner` | `murmur2`/`crc32`: how producers place user ids | `murmur2` |
/// | `kafka.auto_offset_reset` | `earliest`/`latest` | `earliest` |
/// | `kafka.statistics_interval_ms` | int (0 = off) | 10000 |
/// | `kafka.properties` | [`key=value`] librdkafka properties (secret; as one string — env — entries are split at newlines and at commas followed by `name=`, so values may contain commas) | none |
/// | `topics.inputs.<modality>` | string | `qanchor.events.<modality>` |
/// | `topics.dead_letter` | string | `qanchor.deadletter` |
/// | `topics.output_template` | string with `{scenario}` | `qanchor.embeddings.{scenario}` |
/// | `topics.replication_factor` | int (-1 = broker default) for topics qanchor creates | -1 |
/// | `topics.changelog` / `topics.members` | string, `{group}` = `kafka.group_id` | `{group}.changelog` / `{group}.members` |
/// | `scaling.changelog` | bool | true |
/// | `scaling.changelog_vector_encoding` | `float16`/`float32` | `float16` |
/// | `scaling.standby_replicas` | int | 0 |
/// | `scaling.heartbeat_ms` | int | 3000 |
/// | `scaling.instance_id` | string | `kafka.group_instance_id`, else host-pid |
/// | `model.bundle` | path | required |
/// | `model.threads` | int (0 = cores) | 0 |
/// | `model.precision` | `fp32`/`bf16` | `fp32` |
/// | `store.path` | path | required |
/// | `store.vector_encoding` | `float32`/`float16` | `float32` |
/// | `store.durable` | bool | true |
/// | `store.map_size_mb` | int | 1024 |
/// | `store.prefix_kv_budget_mb` | int | 0 |
/// | `store.commit` | `per_request`/`journaled` | `per_request` |
/// | `store.checkpoint_interval_ms` / `store.checkpoint_events` | int (journaled) | 5000 / 200000 |
/// | `ingest.batch_size` | int | 1000 |
/// | `ingest.pause_above` / `ingest.resume_below` | int | 20000 / 5000 |
/// | `ingest.max_text_bytes` | int | 4096 |
/// | `ingest.skew_ms` | int | 300000 |
/// | `refresh.daily_at` | `HH:MM` UTC | `02:00` |
/// | `refresh.interval_seconds` | int (0 = daily) | 0 |
/// | `refresh.users_per_batch` | int | 16 |
/// | `refresh.redirty_users_per_second` | int | 1000 |
/// | `refresh.expiry_batch` / `refresh.expiry_interval_seconds` | int | 1000 / 60 |
/// | `output.format` | `json`/`protobuf`/`json_schema_registry` | `json` |
/// | `output.schema_id` | int: registered schema id (json_schema_registry) | 0 |
/// | `http.enabled` | bool | true |
/// | `http.host` / `http.port` | string / int | `127.0.0.1` / 8080 |
/// | `http.advertised_url` | URL other instances redirect to | `http://<host>:<port>` |
/// | `log.level` / `log.format` | string | `info` / `text` |
extension DaemonConfiguration {
    /// Reads the YAML file at `path` (optional) with `QANCHOR_*` environment overrides, for these modalities.
    /// Values of the wrong type are errors (never silently replaced by defaults).
    /// With `strict: false` only type errors are reported (a first pass that needs just `model.bundle`).
    public static func load(file path: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            modalities: [String], strict: Bool = true) async throws -> DaemonConfiguration {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "qanchor"),
        ]
        if let path {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConfigurationError(key: "(file)", problem: "no configuration file at \(path)")
            }
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            } catch {
                throw ConfigurationError(key: "(file)", problem: "\(path) is not valid YAML: \(error)")
            }
        }
        return try DaemonConfiguration(reader: ConfigReader(providers: providers), modalities: modalities, strict: strict)
    }

    /// Reads every key listed above from `reader`.
    public init(reader: ConfigReader, modalities: [String], strict: Bool = true) throws {
        var c = DaemonConfiguration()
        var typed = TypedReader(reader: reader)

        c.kafka.bootstrapServers = typed.strings("kafka.bootstrap_servers") ?? c.kafka.bootstrapServers
        c.kafka.groupID = typed.string("kafka.group_id") ?? c.kafka.groupID
        c.kafka.groupInstanceID = typed.string("kafka.group_instance_id")
        c.kafka.clientID = typed.string("kafka.client_id") ?? c.kafka.clientID
        c.kafka.sessionTimeoutMs = typed.int("kafka.session_timeout_ms") ?? c.kafka.sessionTimeoutMs
        c.kafka.maxPollIntervalMs = typed.int("kafka.max_poll_interval_ms") ?? c.kafka.maxPollIntervalMs
        c.kafka.assignmentStrategy = typed.string("kafka.assignment_strategy") ?? c.kafka.assignmentStrategy
        c.kafka.autoOffsetReset = typed.string("kafka.auto_offset_reset") ?? c.kafka.autoOffsetReset
        c.kafka.partitioner = typed.string("kafka.partitioner") ?? c.kafka.partitioner
        c.kafka.statisticsIntervalMs = typed.int("kafka.statistics_interval_ms") ?? c.kafka.statisticsIntervalMs
        for entry in typed.propertyList("kafka.properties") ?? [] {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                typed.problems.append(ConfigurationError(key: "kafka.properties",
                                                         problem: "entries must be key=value (an entry has no '=')"))
                continue
            }
            c.kafka.properties[String(entry[..<eq]).trimmingCharacters(in: .whitespaces)] =
                String(entry[entry.index(after: eq)...])
        }

        for modality in modalities {
            if let topic = typed.string("topics.inputs.\(modality)") { c.topics.inputs[modality] = topic }
        }
        c.topics.deadLetter = typed.string("topics.dead_letter") ?? c.topics.deadLetter
        c.topics.outputTemplate = typed.string("topics.output_template") ?? c.topics.outputTemplate
        if let factor = typed.int("topics.replication_factor") { c.topics.replicationFactor = Int32(clamping: factor) }
        c.topics.changelog = typed.string("topics.changelog") ?? c.topics.changelog
        c.topics.members = typed.string("topics.members") ?? c.topics.members

        c.scaling.changelog = typed.bool("scaling.changelog") ?? c.scaling.changelog
        c.scaling.changelogVectorEncoding = typed.string("scaling.changelog_vector_encoding") ?? c.scaling.changelogVectorEncoding
        c.scaling.standbyReplicas = typed.int("scaling.standby_replicas") ?? c.scaling.standbyReplicas
        c.scaling.heartbeatMs = typed.int("scaling.heartbeat_ms") ?? c.scaling.heartbeatMs
        c.scaling.instanceID = typed.string("scaling.instance_id")

        c.model.bundle = typed.string("model.bundle") ?? c.model.bundle
        c.model.threads = typed.int("model.threads") ?? c.model.threads
        c.model.precision = typed.string("model.precision") ?? c.model.precision

        c.store.path = typed.string("store.path") ?? c.store.path
        c.store.vectorEncoding = typed.string("store.vector_encoding") ?? c.store.vectorEncoding
        c.store.durable = typed.bool("store.durable") ?? c.store.durable
        c.store.mapSizeMB = typed.int("store.map_size_mb") ?? c.store.mapSizeMB
        c.store.prefixKVBudgetMB = typed.int("store.prefix_kv_budget_mb") ?? c.store.prefixKVBudgetMB
        c.store.commit = typed.string("store.commit") ?? c.store.commit
        c.store.checkpointIntervalMs = typed.int("store.checkpoint_interval_ms") ?? c.store.checkpointIntervalMs
        c.store.checkpointEvents = typed.int("store.checkpoint_events") ?? c.store.checkpointEvents

        c.ingest.batchSize = typed.int("ingest.batch_size") ?? c.ingest.batchSize
        c.ingest.pauseAbove = typed.int("ingest.pause_above") ?? c.ingest.pauseAbove
        c.ingest.resumeBelow = typed.int("ingest.resume_below") ?? c.ingest.resumeBelow
        c.ingest.maxTextBytes = typed.int("ingest.max_text_bytes") ?? c.ingest.maxTextBytes
        c.ingest.skewMs = typed.int("ingest.skew_ms") ?? c.ingest.skewMs

        c.refresh.dailyAt = typed.string("refresh.daily_at") ?? c.refresh.dailyAt
        c.refresh.intervalSeconds = typed.int("refresh.interval_seconds") ?? c.refresh.intervalSeconds
        c.refresh.usersPerBatch = typed.int("refresh.users_per_batch") ?? c.refresh.usersPerBatch
        c.refresh.redirtyUsersPerSecond = typed.int("refresh.redirty_users_per_second") ?? c.refresh.redirtyUsersPerSecond
        c.refresh.expiryBatch = typed.int("refresh.expiry_batch") ?? c.refresh.expiryBatch
        c.refresh.expiryIntervalSeconds = typed.int("refresh.expiry_interval_seconds") ?? c.refresh.expiryIntervalSeconds

        c.output.format = typed.string("output.format") ?? c.output.format
        c.output.schemaID = typed.int("output.schema_id") ?? c.output.schemaID
        c.http.enabled = typed.bool("http.enabled") ?? c.http.enabled
        c.http.host = typed.string("http.host") ?? c.http.host
        c.http.port = typed.int("http.port") ?? c.http.port
        c.http.advertisedURL = typed.string("http.advertised_url")
        c.log.level = typed.string("log.level") ?? c.log.level
        c.log.format = typed.string("log.format") ?? c.log.format

        let problems = typed.problems + (strict ? c.problems() : [])
        if !problems.isEmpty { throw ConfigurationProblems(problems: problems) }
        self = c
    }
}

/// Every problem found in a configuration, each naming its key.
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigurationError]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads values and records a problem (instead of falling back to a default) when a value is present but of the
/// wrong type.
private struct TypedReader {
    let reader: ConfigReader
    var problems: [ConfigurationError] = []

    init(reader: ConfigReader) { self.reader = reader }

    mutating func string(_ key: String) -> String? {
        reader.string(forKey: ConfigKey(key))
    }

    mutating func strings(_ key: String, secret: Bool = false) -> [String]? {
        if let list = reader.stringArray(forKey: ConfigKey(key), isSecret: secret) { return list }
        if let single = reader.string(forKey: ConfigKey(key), isSecret: secret) {
            return single.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// A list of `key=value` entries: a YAML list as it is, or one string (e.g. `QANCHOR_KAFKA_PROPERTIES`) split
    /// by `splitPropertyList`. Values are secret.
    mutating func propertyList(_ key: String) -> [String]? {
        if let single = reader.string(forKey: ConfigKey(key), isSecret: true) { return splitPropertyList(single) }
        return reader.stringArray(forKey: ConfigKey(key), isSecret: true)
    }

    mutating func int(_ key: String) -> Int? {
        if let value = reader.int(forKey: ConfigKey(key)) { return value }
        if let raw = reader.string(forKey: ConfigKey(key)) {
            if let value = Int(raw.trimmingCharacters(in: .whitespaces)) { return value }
            problems.append(ConfigurationError(key: key, problem: "expected an integer, found '\(raw)'"))
        }
        return nil
    }

    mutating func bool(_ key: String) -> Bool? {
        if let value = reader.bool(forKey: ConfigKey(key)) { return value }
        if let raw = reader.string(forKey: ConfigKey(key)) {
            switch raw.lowercased() {
            case "true", "yes", "1", "on": return true
            case "false", "no", "0", "off": return false
            default: problems.append(ConfigurationError(key: key, problem: "expected true or false, found '\(raw)'"))
            }
        }
        return nil
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
