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
        func loadToken(_ path: String?, key: String) throws -> BearerToken? {
            guard configuration.http.enabled, let path else { return nil }
            let token: BearerToken
            do { token = try BearerToken(contentsOf: path, key: key) } catch {
                logger.critical("cannot start", metadata: ["error": "\(error)"])
                throw ExitCode(2)
            }
            if BearerToken.isShared(path: path) {
                logger.warning("\(key) can be read by other users; make it 0600", metadata: ["file": "\(path)"])
            }
            return token
        }
        let token = try loadToken(configuration.http.tokenFile, key: "http.token_file")
        let adminToken = try loadToken(configuration.http.adminTokenFile, key: "http.admin_token_file")
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
                                                       port: configuration.http.port, token: token, adminToken: adminToken,
                                                       logger: logger),
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

    @OptionGroup var daemon: DaemonAddress

    func run() async throws {
        let (status, body) = try daemon.post("/admin/leave", admin: true)
        Standard.output(body.trimmingCharacters(in: .whitespacesAndNewlines))
        if !(200..<300).contains(status) { throw ExitCode(1) }
    }
}

/// A running daemon's address and the token its `/v1` and `/admin` routes need (`--token-file`; default: the daemon's
/// own variables, so a tool run beside the daemon finds it — `QANCHOR_HTTP_TOKEN_FILE` for `/v1`, and
/// `QANCHOR_HTTP_ADMIN_TOKEN_FILE`, else `QANCHOR_HTTP_TOKEN_FILE`, for `/admin`).
struct DaemonAddress: ParsableArguments {
    @Option(help: "The daemon's HTTP address.")
    var url = "http://127.0.0.1:8080"

    @Option(help: "A file holding the daemon's bearer token (default: $QANCHOR_HTTP_ADMIN_TOKEN_FILE for admin commands, else $QANCHOR_HTTP_TOKEN_FILE, when set).")
    var tokenFile: String?

    /// `Authorization` for the daemon, if a token file is given or set in the environment.
    func headers(admin: Bool = false) throws -> [String: String] { try Self.headers(tokenFile: tokenFile, admin: admin) }

    static func headers(tokenFile: String?, admin: Bool = false) throws -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        guard let path = tokenFile ?? (admin ? environment["QANCHOR_HTTP_ADMIN_TOKEN_FILE"] : nil)
                ?? environment["QANCHOR_HTTP_TOKEN_FILE"] else { return [:] }
        do { return ["Authorization": "Bearer " + (try BearerToken.read(path, key: "--token-file"))] } catch { throw CLIError("\(error)") }
    }

    /// POSTs to `path` (with the token; the admin token for `admin`); returns the status and the body.
    func post(_ path: String, body: [UInt8] = [], admin: Bool = false) throws -> (status: Int, body: String) {
        guard let target = URL(string: url + path), target.scheme == "http" else {
            throw ValidationError("--url: expected http://host:port, got '\(url)'")
        }
        let response = try LoopbackHTTPClient.send("POST", target, body: body, headers: try headers(admin: admin))
        return (response.status, response.body)
    }
}

/// `qanchor config check FILE`: validate a configuration (and its bundle) without starting; print the effective
/// configuration with secrets redacted.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Configuration tools.",
                                                    subcommands: [ConfigCheckCommand.self, ConfigKeysCommand.self])
}

/// `qanchor config keys [--markdown]`: every configuration key with what it expects, its default, its environment
/// variable and its documentation (docs/configuration.md is the `--markdown` output).
struct ConfigKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "List every configuration key.")

    @Flag(help: "A Markdown table (the one in docs/configuration.md).")
    var markdown = false

    func run() async throws {
        let defaults = DaemonConfiguration()
        var lines: [String] = []
        if markdown {
            lines += ["| key | expects | default | environment | what |", "|---|---|---|---|---|"]
        }
        for key in DaemonConfiguration.keys {
            let value = key.value(in: defaults)
            let shown = value.isEmpty ? (key.name.contains("<") ? "`qanchor.events.<modality>`" : "(empty)") : "`\(value)`"
            let environment = key.name.contains("<") ? "`QANCHOR_TOPICS_INPUTS_<MODALITY>`" : "`\(key.environmentName)`"
            if markdown {
                lines.append("| `\(key.name)` | \(key.expected) | \(shown) | \(environment) | \(key.doc) |")
            } else {
                lines.append("\(key.name) (\(key.expected); default \(shown); \(environment)): \(key.doc)")
            }
        }
        Standard.output(lines.joined(separator: "\n"))
    }
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

    @OptionGroup var daemon: DaemonAddress

    @Flag(help: "Wait until the refresh finished and print its summary.")
    var wait = false

    @Option(help: "First wait (up to this many seconds) until the daemon is ready: assigned and caught up.")
    var waitReady: Double = 0

    func run() async throws {
        if waitReady > 0, let ready = URL(string: daemon.url + "/readyz") {
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
        let (status, body) = try daemon.post("/admin/refresh" + (wait ? "?wait=true" : ""), admin: true)
        Standard.output(body.trimmingCharacters(in: .whitespacesAndNewlines))
        if !(200..<300).contains(status) { throw ExitCode(1) }
    }
}

/// Shared by serve and config check.
enum DaemonSetup {
    /// Reads the configuration; the bundle's modalities decide the `topics.inputs.*` keys.
    static func load(_ file: String?) async throws -> DaemonConfiguration {
        // The bundle first (its modalities decide the topics.inputs.* keys); without one, every other problem is
        // still reported with the missing bundle.
        guard let bundle = DaemonConfiguration.bundlePath(file: file) else {
            return try await DaemonConfiguration.load(file: file, modalities: nil)
        }
        let manifest = try BundleManifest.load(bundleDirectory: URL(fileURLWithPath: bundle))
        return try await DaemonConfiguration.load(file: file, modalities: manifest.modalities.map(\.name))
    }

    static func bootstrapLogging(_ configuration: DaemonConfiguration) {
        CLILogging.configure(level: configuration.log.level, json: configuration.log.format == .json)
    }

    /// The effective configuration, one `key: value` line per key (librdkafka secrets redacted).
    static func describe(_ c: DaemonConfiguration) -> String {
        var lines: [String] = []
        for key in DaemonConfiguration.keys {
            if key.name.contains("<") {
                for (modality, topic) in c.topics.inputs.sorted(by: { $0.key < $1.key }) { lines.append("topics.inputs.\(modality): \(topic)") }
            } else {
                lines.append("\(key.name): \(key.value(in: c))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

