import Foundation
import Logging
import QAnchorDaemon

/// What the benchmarks that run whole daemons share: a configuration over a topic prefix, and running a daemon until
/// it is ready.
enum BenchDaemons {
    /// A daemon over `\(prefix).<modality>` inputs, in `group`, with the store at `store`, HTTP off, and no refresh
    /// unless asked.
    static func configuration(prefix: String, group: String, bootstrap: String, bundle: String, threads: Int, store: URL,
                              durable: Bool = true) -> DaemonConfiguration {
        var c = DaemonConfiguration()
        c.kafka.bootstrapServers = bootstrap.split(separator: ",").map(String.init)
        c.kafka.groupID = group
        c.kafka.sessionTimeoutMs = 6000
        c.kafka.statisticsIntervalMs = 0
        for m in ["bill", "app", "mini", "search", "spm", "tabular"] { c.topics.inputs[m] = "\(prefix).\(m)" }
        c.topics.deadLetter = "\(prefix).deadletter"
        c.topics.outputTemplate = "\(prefix).out.{scenario}"
        c.topics.changelog = "\(prefix).changelog"
        c.topics.members = "\(prefix).members"
        c.model.bundle = bundle
        c.model.threads = threads
        c.store.path = store.path
        c.store.durable = durable
        c.refresh.intervalSeconds = 86_400 * 365
        c.http.enabled = false
        return c
    }

    /// Starts a daemon and waits until it is ready; returns the seconds from its first assignment to ready (Tansu
    /// waits session.timeout/2 before assigning: that is not counted), the seconds it waited for the assignment, and
    /// the running daemon with its run task.
    static func runUntilReady(_ configuration: DaemonConfiguration, logger: Logger) async throws
        -> (seconds: Double, joinSeconds: Double, daemon: Daemon, run: Task<Void, any Error>) {
        let daemon = try Daemon(configuration: configuration, logger: logger)
        let run = Task { try await daemon.run() }
        let joinStart = ContinuousClock.now
        while daemon.readiness().reason == "no partitions assigned" {
            if ContinuousClock.now - joinStart > .seconds(120) { throw CLIError("no partitions assigned in 2 minutes") }
            try await Task.sleep(for: .milliseconds(2))
        }
        let start = ContinuousClock.now
        while !daemon.readiness().ready {
            if ContinuousClock.now - start > .seconds(3600) { throw CLIError("not ready within an hour") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return ((ContinuousClock.now - start).seconds, (start - joinStart).seconds, daemon, run)
    }

    /// Stops a daemon started by `runUntilReady` and closes its store.
    static func stop(_ daemon: Daemon, _ run: Task<Void, any Error>, leaving: Bool = false) async throws {
        daemon.shutdown(leavingGroup: leaving)
        try await run.value
        daemon.close()
    }
}
