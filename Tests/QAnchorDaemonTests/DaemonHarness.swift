import Dispatch
import Foundation
import QAnchorDaemon
import QAnchorTestSupport

/// One `qanchor serve` process against the test broker, with its own topics, group, store and HTTP port, driven
/// the way an operator would: independent clients (confluent-kafka, kcat) for the topics, HTTP for the daemon.
final class DaemonHarness: @unchecked Sendable {
    static let modalities = ["bill", "app", "mini", "search", "spm", "tabular"]
    static let scenarios = ["credit_risk", "engagement", "generic"]
    static let bundle = TestBroker.repositoryRoot.appendingPathComponent("testdata/models/tiny").path

    let directory: URL
    let prefix: String
    let bootstrap: String
    let configPath: String
    private(set) var process: BackgroundProcess?
    private(set) var port: Int?
    /// Sent as `Authorization: Bearer …` with every request when set (a daemon with `http.token_file`).
    var token: String?

    /// `kafkaProperties`: extra librdkafka `key=value` entries for the daemon's clients.
    /// `storeCommit`: `per_request` or `journaled` (then checkpoints every 200 ms).
    /// `extraYAML`: more top-level sections (e.g. `scaling: {…}`), appended to the configuration.
    /// `staticInstance`: `kafka.group_instance_id` (static membership).
    init(name: String, kafkaProperties: [String] = [], autoOffsetReset: String = "earliest",
         storeCommit: String = "per_request", refreshIntervalSeconds: Int = 86400, staticInstance: String? = nil,
         sessionTimeoutMs: Int = 6000, assignmentStrategy: String = "cooperative-sticky", extraYAML: String = "",
         broker: LocalBroker? = nil) throws {
        bootstrap = try broker?.bootstrap ?? TestBroker.bootstrap
        prefix = uniqueName(name)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-\(prefix)")
        configPath = directory.appendingPathComponent("qanchor.yaml").path
        try writeConfiguration(kafkaProperties: kafkaProperties, autoOffsetReset: autoOffsetReset, storeCommit: storeCommit,
                               refreshIntervalSeconds: refreshIntervalSeconds, staticInstance: staticInstance,
                               sessionTimeoutMs: sessionTimeoutMs, assignmentStrategy: assignmentStrategy, extraYAML: extraYAML)
    }

    /// Another instance of `cluster`'s daemon: same topics and group, its own directory, store and HTTP port.
    init(joining cluster: DaemonHarness, instance: String, refreshIntervalSeconds: Int = 86400, staticInstance: String? = nil,
         sessionTimeoutMs: Int = 6000, assignmentStrategy: String = "cooperative-sticky", extraYAML: String = "") throws {
        bootstrap = cluster.bootstrap
        prefix = cluster.prefix
        directory = cluster.directory.appendingPathComponent("instance-\(instance)")
        configPath = directory.appendingPathComponent("qanchor.yaml").path
        try writeConfiguration(kafkaProperties: [], autoOffsetReset: "earliest", storeCommit: "per_request",
                               refreshIntervalSeconds: refreshIntervalSeconds, staticInstance: staticInstance,
                               sessionTimeoutMs: sessionTimeoutMs, assignmentStrategy: assignmentStrategy, extraYAML: extraYAML)
    }

    private func writeConfiguration(kafkaProperties: [String], autoOffsetReset: String, storeCommit: String,
                                    refreshIntervalSeconds: Int, staticInstance: String? = nil, sessionTimeoutMs: Int = 6000,
                                    assignmentStrategy: String = "cooperative-sticky", extraYAML: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let inputs = Self.modalities.map { "    \($0): \(prefix).events.\($0)" }.joined(separator: "\n")
        let yaml = """
        kafka:
          bootstrap_servers: ["\(bootstrap)"]
          group_id: \(prefix)
          session_timeout_ms: \(sessionTimeoutMs)
          max_poll_interval_ms: \(max(300_000, sessionTimeoutMs))
          assignment_strategy: \(assignmentStrategy)\(staticInstance.map { "\n  group_instance_id: \($0)" } ?? "")
          auto_offset_reset: \(autoOffsetReset)
          statistics_interval_ms: 500
          properties: [\(kafkaProperties.map { "\"\($0)\"" }.joined(separator: ", "))]
        topics:
          inputs:
        \(inputs)
          dead_letter: \(prefix).deadletter
          output_template: "\(prefix).embeddings.{scenario}"
        model:
          bundle: \(Self.bundle)
        store:
          path: \(directory.appendingPathComponent("store").path)
          durable: false
          commit: \(storeCommit)
          checkpoint_interval_ms: 200
        ingest:
          max_text_bytes: 2048
        refresh:
          interval_seconds: \(refreshIntervalSeconds)
          expiry_interval_seconds: 3600
        http:
          port: 0
        log:
          level: debug

        """ + extraYAML
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    deinit {
        process?.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    func topic(_ modality: String) -> String { "\(prefix).events.\(modality)" }
    func outputTopic(_ scenario: String) -> String { "\(prefix).embeddings.\(scenario)" }
    var deadLetterTopic: String { "\(prefix).deadletter" }

    func qanchor(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        try QAnchorExecutable.run(arguments)
    }

    func createTopics(partitions: Int = 3) throws {
        let result = try qanchor(["kafka", "create-topics", "--config", configPath, "--partitions", String(partitions)])
        guard result.status == 0 else { throw Subprocess.Failure(description: "create-topics: \(result.errors)") }
    }

    /// Produces a JSONL file (input format + "modality") with confluent-kafka; `raw` lines go to `rawTopic` as-is.
    func produce(_ file: URL, rawTopic: String? = nil) throws {
        let python = "/opt/qanchor/venv/bin/python"
        let script = TestBroker.repositoryRoot.appendingPathComponent("ops/dev/produce_events.py").path
        var args = [script, "--bootstrap", bootstrap, "--topic-template", "\(prefix).events.{modality}", file.path]
        if let rawTopic { args += ["--raw-topic", rawTopic] }
        let (status, output) = try Subprocess.run(python, args, showErrors: true)
        guard status == 0 else { throw Subprocess.Failure(description: "produce_events.py exited \(status): \(output)") }
    }

    /// Produces records exactly as given (key and raw value bytes) with kcat: for bad-input tests.
    func produceRaw(topic: String, key: String?, value: [UInt8]) throws {
        let file = directory.appendingPathComponent("raw-\(UUID().uuidString)")
        try Data(value).write(to: file)
        var args = ["-b", bootstrap, "-P", "-t", topic]
        if let key { args += ["-k", key] }
        args.append(file.path)
        _ = try Kcat.run(args)
    }

    /// Starts `qanchor serve`; `environment` adds variables to the test's own.
    func start(environment: [String: String] = [:]) async throws {
        let binary = try QAnchorExecutable.url().path
        let log = directory.appendingPathComponent("serve-\(UUID().uuidString.prefix(6)).log").path
        let process = try BackgroundProcess(binary, ["serve", "--config", configPath],
                                            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                            logPath: log)
        self.process = process
        // Generous: at the start of a full test run every suite starts at once and a daemon process gets a small
        // share of the two cores (its start takes ~1 s alone, and was seen to take over 60 s then).
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            if let range = process.log.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(process.log[range].split(separator: ":").last!)
                return
            }
            if !process.isRunning { throw Subprocess.Failure(description: "qanchor serve exited:\n\(process.log.suffix(3000))") }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Subprocess.Failure(description: "qanchor serve did not start:\n\(process.log.suffix(3000))")
    }

    /// Writes `events` to a file, creates the topics, produces the file, starts the daemon and waits until it is ready
    /// and has stored every event. Returns the file (for `qanchor embed`/`query` references).
    @discardableResult
    func start(with events: EventFile, partitions: Int = 2) async throws -> URL {
        let file = directory.appendingPathComponent("events-\(UUID().uuidString.prefix(6)).jsonl")
        try events.write(to: file)
        try createTopics(partitions: partitions)
        try produce(file)
        try await start()
        try await waitReady()
        try await waitForMetric(Self.storedEventsKey, toReach: Double(events.lines.count))
        return file
    }

    /// SIGTERM; returns the exit code. An unclean exit prints the end of the daemon's log (for CI diagnosis).
    func stop() async -> Int32? {
        let code = await process?.stop()
        if code != 0, let log = process?.log {
            FileHandle.standardError.write(Data("qanchor serve exited \(code.map(String.init) ?? "(timeout)"); log tail:\n\(log.suffix(4000))\n".utf8))
        }
        return code
    }

    /// SIGKILL.
    func kill() { process?.kill() }

    func http(_ method: String, _ path: String) async throws -> (status: Int, body: String) {
        let response = try await send(method, path)
        return (response.status, response.body)
    }

    /// One request with an optional JSON body; `token` overrides the harness's (empty string: none).
    func send(_ method: String, _ path: String, json: String = "", token: String? = nil) async throws
        -> (status: Int, headers: [String: String], body: String) {
        guard let port else { throw Subprocess.Failure(description: "daemon not started") }
        let url = URL(string: "http://127.0.0.1:\(port)\(path)")!
        var headers: [String: String] = [:]
        if let bearer = token ?? self.token, !bearer.isEmpty { headers["Authorization"] = "Bearer \(bearer)" }
        let fields = headers
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try LoopbackHTTPClient.send(method, url, body: Array(json.utf8), headers: fields)) }
                catch { continuation.resume(throwing: error) }
            }
        }
    }

    func waitReady(timeout: Duration = .seconds(90)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            if let (status, body) = try? await http("GET", "/readyz") {
                if status == 200 { return }
                last = body
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw Subprocess.Failure(description: "not ready: \(last)\n\(process?.log.suffix(3000) ?? "")")
    }

    /// Refreshes now and waits; returns the summary.
    func refresh() async throws -> [String: Int] {
        let (status, body) = try await http("POST", "/admin/refresh?wait=true")
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Int] else {
            throw Subprocess.Failure(description: "refresh: \(status) \(body)")
        }
        return object
    }

    /// The stored-events counter ("all" modalities).
    static let storedEventsKey = "qanchor_events_total{modality=\"all\",outcome=\"stored\"}"

    /// Polls the metrics until sample `key` reaches `value` or `timeout` passes; returns the last metrics read.
    @discardableResult
    func waitForMetric(_ key: String, toReach value: Double, timeout: Duration = .seconds(60)) async throws -> [String: Double] {
        let deadline = ContinuousClock.now + timeout
        var metrics = try await self.metrics()
        while metrics[key] ?? 0 < value, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            metrics = try await self.metrics()
        }
        return metrics
    }

    /// Prometheus samples: "name{labels}" → value.
    func metrics() async throws -> [String: Double] {
        let (_, body) = try await http("GET", "/metrics")
        var out: [String: Double] = [:]
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { out[String(parts[0])] = value }
        }
        return out
    }

    /// Every record of a topic, read with kcat: (key, value, headers) in offset order per partition.
    func read(topic: String) throws -> [(key: String, value: String?, headers: String)] {
        let out = try Kcat.run(["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-Z",
                                "-f", "%k\u{1f}%s\u{1f}%h\u{1e}"])
        return out.split(separator: "\u{1e}").map { row in
            let fields = row.split(separator: "\u{1f}", omittingEmptySubsequences: false).map(String.init)
            return (fields[0], fields.count > 1 && fields[1] != "NULL" ? fields[1] : nil, fields.count > 2 ? fields[2] : "")
        }
    }
}

/// Test events (input format + "modality") around the current time, written to a JSONL file.
struct EventFile {
    var lines: [String] = []
    let nowMs = Int64(Date().timeIntervalSince1970 * 1000)

    mutating func text(_ modality: String, _ id: String, user: String, daysAgo: Double, _ text: String) {
        let ts = nowMs - Int64(daysAgo * 86_400_000)
        lines.append(#"{"modality":"\#(modality)","event_id":"\#(id)","user_id":"\#(user)","ts":\#(ts),"text":\#(jsonString(text))}"#)
    }

    mutating func tabular(_ id: String, user: String, daysAgo: Double, _ features: [Double]) {
        let ts = nowMs - Int64(daysAgo * 86_400_000)
        let values = features.map { String($0) }.joined(separator: ",")
        lines.append(#"{"modality":"tabular","event_id":"\#(id)","user_id":"\#(user)","ts":\#(ts),"features":[\#(values)]}"#)
    }

    func write(to url: URL) throws {
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    private func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
