import ArgumentParser
import Dispatch
import Foundation
import Logging
import QAnchorDaemon
import QAnchorKafka
import QAnchorModel
import ServiceLifecycle

/// `qanchor serve --config FILE`: the streaming daemon. SIGTERM/SIGINT stop it gracefully (exit 0).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the streaming daemon.")

    @Option(help: "YAML configuration file (every key may be overridden by QANCHOR_* environment variables).")
    var config: String?

    func run() async throws {
        let configuration = try await DaemonSetup.load(config)
        DaemonSetup.bootstrapLogging(configuration)
        let logger = Logger(label: "qanchor")
        let daemon: Daemon
        do { daemon = try Daemon(configuration: configuration, logger: logger) } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        // One service group: SIGTERM/SIGINT shut it down gracefully, the daemon first (services stop in reverse
        // order), then the HTTP server (which answers /healthz and reads the store until then); either one ending
        // ends the group.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if configuration.http.enabled {
            services.append(.init(service: AdminServer(daemon: daemon, host: configuration.http.host,
                                                       port: configuration.http.port, logger: logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup,
                                  failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        services.append(.init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup))
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        defer { daemon.close() }
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// `qanchor leave`: stop a running daemon and leave the consumer group for good, so its partitions move to the
/// other instances at once — for a scale-down. A static member (`kafka.group_instance_id`) that simply stops keeps
/// its partitions until its session times out; this makes it leave.
struct LeaveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "leave",
                                                    abstract: "Stop a running daemon and leave the consumer group (scale-down).")

    @Option(help: "The daemon's HTTP address.")
    var url = "http://127.0.0.1:8080"

    func run() async throws {
        guard let target = URL(string: url + "/admin/leave") else { throw ValidationError("--url: not a URL: \(url)") }
        let (status, body) = try LoopbackHTTPClient.post(target)
        Standard.output(body.trimmingCharacters(in: .whitespacesAndNewlines))
        if !(200..<300).contains(status) { throw ExitCode(1) }
    }
}

/// `qanchor config check FILE`: validate a configuration (and its bundle) without starting; print the effective
/// configuration with secrets redacted.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Configuration tools.",
                                                    subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check",
                                                    abstract: "Validate a configuration and print the effective values.")

    @Argument(help: "The YAML configuration file.")
    var file: String?

    func run() async throws {
        let configuration: DaemonConfiguration
        do { configuration = try await DaemonSetup.load(file) } catch {
            Standard.error("invalid configuration:\n\(error)")
            throw ExitCode(1)
        }
        Standard.output(DaemonSetup.describe(configuration))
    }
}

/// `qanchor refresh`: ask a running daemon to refresh now (POST /admin/refresh), optionally waiting for it.
struct RefreshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "refresh",
                                                    abstract: "Trigger a refresh on a running daemon.")

    @Option(help: "The daemon's HTTP address.")
    var url = "http://127.0.0.1:8080"

    @Flag(help: "Wait until the refresh finished and print its summary.")
    var wait = false

    @Option(help: "First wait (up to this many seconds) until the daemon is ready: assigned and caught up.")
    var waitReady: Double = 0

    func run() async throws {
        if waitReady > 0, let ready = URL(string: url + "/readyz") {
            let deadline = Date().addingTimeInterval(waitReady)
            var last = "no answer"
            while true {
                if let (status, body) = try? LoopbackHTTPClient.get(ready) {
                    if status == 200 { break }
                    last = body.trimmingCharacters(in: .whitespacesAndNewlines)
                }
                guard Date() < deadline else { throw CLIError("the daemon is not ready after \(waitReady) s: \(last)") }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        guard let target = URL(string: url + "/admin/refresh" + (wait ? "?wait=true" : "")) else {
            throw ValidationError("--url: not a URL: \(url)")
        }
        let (status, body) = try LoopbackHTTPClient.post(target)
        Standard.output(body.trimmingCharacters(in: .whitespacesAndNewlines))
        if !(200..<300).contains(status) { throw ExitCode(1) }
    }
}

/// Shared by serve and config check.
enum DaemonSetup {
    /// Reads the configuration; the bundle's modalities decide the `topics.inputs.*` keys.
    static func load(_ file: String?) async throws -> DaemonConfiguration {
        // First pass for the bundle path, second with its modalities.
        let first = try await DaemonConfiguration.load(file: file, modalities: [], strict: false)
        guard !first.model.bundle.isEmpty else {
            throw ConfigurationError(key: "model.bundle", problem: "required: the model bundle directory")
        }
        let manifest = try BundleManifest.load(bundleDirectory: URL(fileURLWithPath: first.model.bundle))
        return try await DaemonConfiguration.load(file: file, modalities: manifest.modalities.map(\.name))
    }

    static func bootstrapLogging(_ configuration: DaemonConfiguration) {
        CLILogging.configure(level: Logger.Level(rawValue: configuration.log.level) ?? .info,
                             json: configuration.log.format == "json")
    }

    static func describe(_ c: DaemonConfiguration) -> String {
        var lines: [String] = []
        func add(_ key: String, _ value: Any?) { lines.append("\(key): \(value.map { "\($0)" } ?? "(none)")") }
        add("kafka.bootstrap_servers", c.kafka.bootstrapServers.joined(separator: ","))
        add("kafka.group_id", c.kafka.groupID)
        add("kafka.group_instance_id", c.kafka.groupInstanceID)
        add("kafka.client_id", c.kafka.clientID)
        add("kafka.session_timeout_ms", c.kafka.sessionTimeoutMs)
        add("kafka.max_poll_interval_ms", c.kafka.maxPollIntervalMs)
        add("kafka.assignment_strategy", c.kafka.assignmentStrategy)
        add("kafka.auto_offset_reset", c.kafka.autoOffsetReset)
        add("kafka.partitioner", c.kafka.partitioner)
        add("kafka.statistics_interval_ms", c.kafka.statisticsIntervalMs)
        for (key, value) in c.kafka.properties.sorted(by: { $0.key < $1.key }) {
            add("kafka.properties.\(key)", KafkaClientConfiguration.isSecret(key) ? "[redacted]" : value)
        }
        for (modality, topic) in c.topics.inputs.sorted(by: { $0.key < $1.key }) { add("topics.inputs.\(modality)", topic) }
        add("topics.dead_letter", c.topics.deadLetter)
        add("topics.output_template", c.topics.outputTemplate)
        add("topics.replication_factor", c.topics.replicationFactor)
        add("topics.changelog", c.topics.changelog(group: c.kafka.groupID))
        add("topics.members", c.topics.members(group: c.kafka.groupID))
        add("scaling.changelog", c.scaling.changelog)
        add("scaling.changelog_vector_encoding", c.scaling.changelogVectorEncoding)
        add("scaling.standby_replicas", c.scaling.standbyReplicas)
        add("scaling.heartbeat_ms", c.scaling.heartbeatMs)
        add("scaling.instance_id", c.scaling.instanceID)
        add("model.bundle", c.model.bundle)
        add("model.threads", c.model.threads)
        add("model.precision", c.model.precision)
        add("store.path", c.store.path)
        add("store.vector_encoding", c.store.vectorEncoding)
        add("store.durable", c.store.durable)
        add("store.map_size_mb", c.store.mapSizeMB)
        add("store.prefix_kv_budget_mb", c.store.prefixKVBudgetMB)
        add("store.commit", c.store.commit)
        add("store.checkpoint_interval_ms", c.store.checkpointIntervalMs)
        add("store.checkpoint_events", c.store.checkpointEvents)
        add("ingest.batch_size", c.ingest.batchSize)
        add("ingest.pause_above", c.ingest.pauseAbove)
        add("ingest.resume_below", c.ingest.resumeBelow)
        add("ingest.max_text_bytes", c.ingest.maxTextBytes)
        add("ingest.skew_ms", c.ingest.skewMs)
        add("refresh.daily_at", c.refresh.dailyAt)
        add("refresh.interval_seconds", c.refresh.intervalSeconds)
        add("refresh.users_per_batch", c.refresh.usersPerBatch)
        add("refresh.redirty_users_per_second", c.refresh.redirtyUsersPerSecond)
        add("refresh.expiry_batch", c.refresh.expiryBatch)
        add("refresh.expiry_interval_seconds", c.refresh.expiryIntervalSeconds)
        add("output.format", c.output.format)
        add("output.schema_id", c.output.schemaID)
        add("http.enabled", c.http.enabled)
        add("http.host", c.http.host)
        add("http.port", c.http.port)
        add("http.advertised_url", c.http.advertisedURL)
        add("log.level", c.log.level)
        add("log.format", c.log.format)
        return lines.joined(separator: "\n")
    }
}

