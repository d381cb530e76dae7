import Foundation
import Hummingbird

/// The shared secret of `http.token_file` (or `http.admin_token_file`): every `/v1/*` and `/admin/*` request must carry
/// `Authorization: Bearer <token>`. Read once at start; the file's first line, surrounding whitespace removed. The
/// token is never logged or printed. Comparison takes the same time wherever the first difference is.
/// A value type.
public struct BearerToken: Sendable {
    private let secret: [UInt8]

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the token from `path`. Throws when the file is unreadable or holds no token.
    /// `key` names the setting in errors.
    public init(contentsOf path: String, key: String = "http.token_file") throws {
        secret = Array(try Self.read(path, key: key).utf8)
    }

    /// The token text in `path` (for clients such as `qanchor query --token-file`).
    public static func read(_ path: String, key: String = "http.token_file") throws -> String {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw LoadError(description: "\(key) \(path): cannot read it (\(error.localizedDescription))")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard token.utf8.count >= 16 else {
            throw LoadError(description: "\(key) \(path): the first line must hold a token of at least 16 characters")
        }
        return token
    }

    /// Whether the file can be read by other users (it should be 0600 or 0400).
    public static func isShared(path: String) -> Bool {
        let mode = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
        return mode & 0o077 != 0
    }

    /// Whether an `Authorization` header value carries this token.
    func accepts(_ header: String?) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let offered = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        var difference = UInt8(offered.count == secret.count ? 0 : 1)
        for i in 0..<secret.count { difference |= secret[i] ^ (i < offered.count ? offered[i] : 0) }
        return difference == 0
    }
}

/// Refuses requests without the bearer token (401 with `WWW-Authenticate: Bearer` and an OpenAI-style error body).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: BearerToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard token.accepts(request.headers[.authorization]) else {
            var response = AdminServer.errorResponse(QueryError.unauthorized)
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}
