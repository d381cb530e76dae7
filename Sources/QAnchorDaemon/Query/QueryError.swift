/// Why a query-API request (docs/query.md) was refused or failed: an HTTP status, an error type and a message that
/// names the field at fault. Rendered as OpenAI's error object (`{"error":{"message","type","param","code"}}`), so
/// OpenAI-compatible clients show the message. Status codes follow TEI: 400 malformed or empty, 413 over a limit,
/// 429 overloaded; plus 401 (token), 404 (unknown user or model) and 504 (timed out before the model started).
public struct QueryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    /// `invalid_request_error`, `not_found_error`, `authentication_error`, `overloaded_error`, `timeout_error`,
    /// `server_error`.
    public var type: String
    public var message: String
    /// The request field at fault, when there is one (`input`, `queries[2].query`, …).
    public var param: String?

    public var description: String { "\(status) \(type): \(message)" }

    static func invalid(_ message: String, param: String? = nil) -> QueryError {
        QueryError(status: 400, type: "invalid_request_error", message: message, param: param)
    }
    static func tooLarge(_ message: String, param: String? = nil) -> QueryError {
        QueryError(status: 413, type: "invalid_request_error", message: message, param: param)
    }
    static func notFound(_ message: String, param: String? = nil) -> QueryError {
        QueryError(status: 404, type: "not_found_error", message: message, param: param)
    }
    static let unauthorized = QueryError(status: 401, type: "authentication_error",
                                         message: "a valid bearer token is required (Authorization: Bearer <token>)")
    static func overloaded(_ limit: Int) -> QueryError {
        QueryError(status: 429, type: "overloaded_error",
                   message: "\(limit) query requests are already being served (query.max_concurrent_requests); retry later")
    }
    static func timeout(_ ms: Int) -> QueryError {
        QueryError(status: 504, type: "timeout_error",
                   message: "the model did not start on this request within query.timeout_ms (\(ms) ms)")
    }
    static func failed(_ message: String) -> QueryError {
        QueryError(status: 500, type: "server_error", message: message)
    }

    /// The OpenAI-style JSON body.
    public var json: String {
        "{\"error\":{\"message\":\(JSONText.string(message)),\"type\":\(JSONText.string(type)),"
            + "\"param\":\(param.map(JSONText.string) ?? "null"),\"code\":\(status)}}"
    }
}
