import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The daemon's HTTP endpoints (Hummingbird 2), bound to loopback unless configured otherwise:
///
/// | route | answer |
/// |---|---|
/// | `GET /healthz` | 200 while the process works (also while rebalancing or restoring) |
/// | `GET /readyz` | 200 when partitions are assigned and caught up, else 503 with the reason |
/// | `GET /metrics` | Prometheus text (no user ids in labels) |
/// | `POST /admin/refresh[?wait=true]` | 202 with a ticket; with `wait=true`, 200 and the summary when done |
/// | `GET /v1/users/{id}/embeddings` | the user's last published records, from the store; 404 if unknown |
public struct AdminServer: Sendable {
    let daemon: Daemon
    let host: String
    let port: Int
    let logger: Logger

    public init(daemon: Daemon, host: String, port: Int, logger: Logger) {
        self.daemon = daemon
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Serves until `until` returns (then shuts down gracefully: in-flight requests finish). `onBound` receives
    /// the bound port (useful with port 0).
    public func run(until: @escaping @Sendable () async -> Void,
                    onBound: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let router = Router()
        let daemon = self.daemon
        router.get("healthz") { _, _ -> Response in
            daemon.isAlive ? Self.text(.ok, "ok\n") : Self.text(.internalServerError, "ingest failed\n")
        }
        router.get("readyz") { _, _ -> Response in
            let (ready, reason) = daemon.readiness()
            return Self.text(ready ? .ok : .serviceUnavailable, reason + "\n")
        }
        router.get("metrics") { _, _ -> Response in
            daemon.updateStoreGauges()
            _ = daemon.readiness()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: daemon.metrics.exposition())))
        }
        router.post("admin/refresh") { request, _ -> Response in
            let ticket = daemon.requestRefresh()
            guard request.uri.queryParameters.get("wait") == "true" else {
                return Self.json(.accepted, "{\"ticket\":\(ticket)}\n")
            }
            while true {
                if let summary = daemon.refreshCompleted(ticket: ticket) {
                    return Self.json(.ok, "{\"ticket\":\(ticket),\"published\":\(summary.published),\"emptied\":\(summary.emptied),"
                                     + "\"failed\":\(summary.failed),\"still_dirty\":\(summary.stillDirty),\"records\":\(summary.records)}\n")
                }
                if daemon.isStopping { return Self.text(.serviceUnavailable, "stopping\n") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        router.get("v1/users/:id/embeddings") { _, context -> Response in
            guard let id = context.parameters.get("id") else { return Self.text(.badRequest, "missing user id\n") }
            guard let outputs = try daemon.publishedRecords(userID: id), !outputs.isEmpty else {
                return Self.text(.notFound, "no embeddings for this user\n")
            }
            let records = outputs.sorted { $0.key < $1.key }.map { String(decoding: $0.value, as: UTF8.self) }
            return Self.json(.ok, "{\"user_id\":\(JSONText.string(id)),\"records\":[\(records.joined(separator: ","))]}\n")
        }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) },
                              logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                await until()
                await group.triggerGracefulShutdown()
            }
            try await tasks.waitForAll()
        }
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
