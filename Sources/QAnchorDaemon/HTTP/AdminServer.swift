import Foundation
import Hummingbird
import Logging
import NIOCore
import QAnchorStore
import ServiceLifecycle

/// The daemon's HTTP endpoints (Hummingbird 2), bound to loopback unless configured otherwise:
///
/// | route | answer |
/// |---|---|
/// | `GET /healthz` | 200 while the process works (also while rebalancing or restoring) |
/// | `GET /readyz` | 200 when partitions are assigned, restored and caught up, else 503 with the reason |
/// | `GET /metrics` | Prometheus text (no user ids in labels) |
/// | `GET /v1/info` | JSON: qanchor's version, commit and build date; the model (name, version, fingerprint, precision, scenarios); this instance, its group and partitions |
/// | `POST /admin/refresh[?wait=true]` | 202 with a ticket; with `wait=true`, 200 and the summary when done |
/// | `POST /admin/leave` | 202; stops the daemon and leaves the consumer group for good (a scale-down) |
/// | `GET /v1/users/{id}/embeddings` | the user's last published records; 404 if unknown |
/// | `POST /v1/users/{id}/query` | the user's embeddings under ad-hoc queries (docs/query.md) |
/// | `POST /v1/embeddings` | OpenAI-compatible text embeddings (docs/query.md) |
///
/// With `http.token_file`, every `/v1/*` and `/admin/*` route requires `Authorization: Bearer <token>` (401 without);
/// with `http.admin_token_file` as well, `/admin/*` requires that second token and only it (readers of embeddings
/// cannot refresh or stop the daemon). `/healthz`, `/readyz` and `/metrics` stay open (probes and scrapers; they
/// carry no user data).
///
/// Every `/v1/users/{id}/…` route is owner-routed (docs/daemon.md "Lookups"): answered only by the instance that
/// owns the user's partition right now; any other instance answers `307 Temporary Redirect` to the owner's
/// `http.advertised_url` (same path and query), or `503` with `Retry-After` while the partition has no ready owner.
///
/// A `Service`: runs until its service group shuts down gracefully (in-flight requests finish).
public struct AdminServer: Service {
    let daemon: Daemon
    let host: String
    let port: Int
    let token: BearerToken?
    let adminToken: BearerToken?
    let logger: Logger

    /// `token` guards `/v1/*`, and `/admin/*` too unless `adminToken` is given.
    public init(daemon: Daemon, host: String, port: Int, token: BearerToken? = nil, adminToken: BearerToken? = nil,
                logger: Logger) {
        self.daemon = daemon
        self.host = host
        self.port = port
        self.token = token
        self.adminToken = adminToken
        self.logger = logger
    }

    public func run() async throws {
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
        let v1 = router.group("v1"), admin = router.group("admin")
        if let token { v1.add(middleware: BearerTokenMiddleware(token: token)) }
        if let adminToken = adminToken ?? token { admin.add(middleware: BearerTokenMiddleware(token: adminToken)) }
        v1.get("info") { _, _ -> Response in
            Self.json(.ok, daemon.infoJSON + "\n")
        }
        admin.post("refresh") { request, _ -> Response in
            let ticket = daemon.requestRefresh()
            guard request.uri.queryParameters.get("wait") == "true" else {
                return Self.json(.accepted, "{\"ticket\":\(ticket)}\n")
            }
            guard let summary = await daemon.waitForRefresh(ticket: ticket) else {
                return Self.text(.serviceUnavailable, "stopping\n")
            }
            return Self.json(.ok, "{\"ticket\":\(ticket),\"published\":\(summary.published),\"emptied\":\(summary.emptied),"
                             + "\"unchanged\":\(summary.unchanged),\"failed\":\(summary.failed),"
                             + "\"still_dirty\":\(summary.stillDirty),\"records\":\(summary.records)}\n")
        }
        admin.post("leave") { _, _ -> Response in
            daemon.shutdown(leavingGroup: true)
            return Self.json(.accepted, "{\"leaving\":true}\n")
        }
        v1.get("users/:id/embeddings") { request, context -> Response in
            try await Self.routed(request, context, daemon) { user in
                let outputs = try daemon.publishedRecords(user)
                guard !outputs.isEmpty else { return Self.text(.notFound, "no embeddings for this user\n") }
                let records = outputs.sorted { $0.key < $1.key }.map { String(decoding: $0.value, as: UTF8.self) }
                return Self.json(.ok, "{\"user_id\":\(JSONText.string(user.userID)),\"records\":[\(records.joined(separator: ","))]}\n")
            }
        }
        Self.addQueryRoutes(v1, daemon: daemon)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port)),
                              onServerRunning: { [host] channel in
                                  let bound = channel.localAddress?.port ?? 0
                                  daemon.setHTTPAddress(host: host, port: bound)
                                  self.logger.info("http listening", metadata: ["address": "\(host):\(bound)"])
                              },
                              logger: logger)
        try await app.run()
    }

    /// Answers a per-user request here when this instance owns the user, else redirects to the owner or says when
    /// to retry.
    static func routed(_ request: Request, _ context: some RequestContext, _ daemon: Daemon,
                       _ local: (UserKey) async throws -> Response) async throws -> Response {
        guard let id = context.parameters.get("id"), !id.isEmpty else { return text(.badRequest, "missing user id\n") }
        switch daemon.route(userID: id) {
        case .local(let user):
            daemon.metrics.routedRequests("local").increment()
            return try await local(user)
        case .owner(let url, let partition):
            daemon.metrics.routedRequests("redirect").increment()
            let target = url.trimmingSuffix("/") + request.uri.description
            return Response(status: .temporaryRedirect, headers: [.location: target, .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "partition \(partition) is owned by \(url)\n")))
        case .unavailable(let reason):
            daemon.metrics.routedRequests("unavailable").increment()
            var response = text(.serviceUnavailable, reason + "\n")
            response.headers[.retryAfter] = "1"
            return response
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

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
