import ArgumentParser
import Dispatch
import Foundation
import QAnchorDaemon
import QAnchorModel

/// `qanchor query`: a user's embedding under ad-hoc queries (docs/query.md), either offline from a JSONL event file
/// (`--bundle --events`, no Kafka, no store; the fp32 prefix, so a query equal to a bundle scenario's prints what
/// `qanchor embed` prints) or from a running daemon (`--url --user`, following the owner redirect). Offline it prints
/// one output record per (user, query) as a JSON line; against a daemon, the daemon's answer (one JSON line:
/// `user_id`, `cache`, `records`).
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Embed users under ad-hoc scenario queries (offline, or against a running daemon).")

    @Option(name: .customLong("query"), help: "The query text (repeatable: all run in one batch).")
    var queries: [String] = []

    @Option(help: "A bundle scenario whose soft prompt and prototypes the queries use.")
    var scenario: String?

    @Option(help: "Offline: the model bundle directory.")
    var bundle: String?

    @Option(help: "Offline: JSONL events (input-topic format plus \"modality\"); '-' reads standard input.")
    var events: String?

    @Option(help: "Offline: reference time for the window, RFC 3339 or epoch milliseconds (default: now).")
    var now: String?

    @Option(help: "Offline: allowed clock skew for events after --now, in seconds.")
    var skewSeconds: Int64 = 300

    @Option(help: "The user id (required with --url; offline: only this user, default all).")
    var user: String?

    @Option(help: "A running daemon's base URL, e.g. http://127.0.0.1:8080.")
    var url: String?

    @Option(help: "With --url: a file holding the daemon's bearer token (default: $QANCHOR_HTTP_TOKEN_FILE when set).")
    var tokenFile: String?

    func validate() throws {
        guard !queries.isEmpty else { throw ValidationError("--query is required (at least one)") }
        if let index = queries.firstIndex(where: \.isEmpty) {
            throw ValidationError("--query #\(index + 1) is empty")
        }
        if url != nil {
            guard bundle == nil, events == nil else { throw ValidationError("--url asks a daemon: --bundle and --events are for offline use") }
            guard let user, !user.isEmpty else { throw ValidationError("--url needs --user") }
        } else {
            guard bundle != nil, events != nil else { throw ValidationError("give --bundle and --events (offline), or --url and --user") }
            guard tokenFile == nil else { throw ValidationError("--token-file is for --url") }
        }
        guard skewSeconds >= 0 else { throw ValidationError("--skew-seconds must be ≥ 0, got \(skewSeconds)") }
    }

    var scenarioQueries: [ScenarioQuery] { queries.map { ScenarioQuery(query: $0, scenario: scenario) } }

    func run() async throws {
        if let url { try await remote(url) } else { try offline() }
    }

    private func offline() throws {
        let model: QAnchorEmbedder
        do { model = try QAnchorEmbedder(bundle: URL(fileURLWithPath: bundle ?? "")) } catch {
            throw CLIError("cannot load bundle: \(error)")
        }
        if let scenario, model.manifest.scenario(id: scenario) == nil {
            throw ValidationError("--scenario: unknown scenario '\(scenario)' (the bundle has \(model.scenarioIDs.joined(separator: ", ")))")
        }
        let input = try OfflineUsers(model: model, events: events ?? "-", nowMs: try OfflineUsers.referenceTime(now),
                                     skewMs: skewSeconds * 1000)
        let chosen = input.users.filter { user == nil || $0.userID == user }
        if let user, chosen.isEmpty { throw CLIError("user '\(user)' has no events in the window of \(events ?? "-")") }
        let computedAt = Int64(Date().timeIntervalSince1970 * 1000)
        for u in chosen {
            let results: [ScenarioEmbedding]
            do { results = try model.embeddings(try model.prefix(for: u.history), queries: scenarioQueries) } catch {
                throw CLIError("user '\(u.userID)': \(error)")
            }
            for result in results { Standard.output(input.record(u, result, model: model, computedAtMs: computedAt).json) }
        }
        if input.badLines > 0 { throw ExitCode(1) }
    }

    private func remote(_ base: String) async throws {
        let headers = try DaemonAddress.headers(tokenFile: tokenFile)
        let items = queries.map { q in
            "{\"query\":\(JSONText.string(q))" + (scenario.map { ",\"scenario\":\(JSONText.string($0))" } ?? "") + "}"
        }
        let body = Array("{\"queries\":[\(items.joined(separator: ","))]}".utf8)
        let path = "/v1/users/\(user!.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? "")/query"
        guard var target = URL(string: (base.hasSuffix("/") ? String(base.dropLast()) : base) + path), target.scheme == "http" else {
            throw ValidationError("--url: expected http://host:port, got '\(base)'")
        }
        // The owner of the user's partition answers; another instance redirects (307) to it.
        for _ in 0..<4 {
            let (url, fields) = (target, headers)
            let response = try await Self.offPool { try LoopbackHTTPClient.send("POST", url, body: body, headers: fields) }
            if response.status == 307, let location = response.headers["location"], let next = URL(string: location) {
                target = next
                continue
            }
            guard response.status == 200 else {
                throw CLIError("\(target.host ?? "") answered \(response.status): \(response.body.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            Standard.output(response.body.trimmingCharacters(in: .whitespacesAndNewlines))
            return
        }
        throw CLIError("too many redirects (the group's ownership is moving; retry)")
    }

    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
