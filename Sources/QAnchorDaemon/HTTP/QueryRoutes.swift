import Foundation
import Hummingbird
import NIOCore
import QAnchorModel

/// The query API's routes (docs/query.md):
///
/// | route | answer |
/// |---|---|
/// | `POST /v1/users/{id}/query` | the user's embeddings under ad-hoc queries (owner-routed) |
/// | `POST /v1/embeddings` | OpenAI-compatible text embeddings from the text tower |
///
/// Errors are OpenAI error objects with TEI's status codes (``QueryError``).
extension AdminServer {
    /// Largest accepted request body.
    static let maxQueryBody = 4 << 20

    static func addQueryRoutes(_ v1: RouterGroup<BasicRequestContext>, daemon: Daemon) {
        v1.post("users/:id/query") { request, context -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: maxQueryBody) } catch {
                return errorResponse(.tooLarge("the request body exceeds \(maxQueryBody) bytes"))
            }
            return try await routed(request, context, daemon) { user in
                let queries: [ScenarioQuery]
                do { queries = try UserQueryRequest.decode(body) } catch let problem as QueryError {
                    daemon.metrics.queryRequests(endpoint: "user_query", status: problem.status).increment()
                    return errorResponse(problem)
                }
                do {
                    let answer = try await daemon.queries.admitted("user_query") { deadline throws(QueryError) in
                        try await daemon.queries.query(user, queries, nowMs: Daemon.nowMs(), deadline: deadline)
                    }
                    let records = answer.records.map(\.json).joined(separator: ",")
                    return json(.ok, "{\"user_id\":\(JSONText.string(user.userID)),\"cache\":\"\(answer.cacheHit ? "hit" : "miss")\","
                                + "\"records\":[\(records)]}\n")
                } catch let problem as QueryError {
                    return errorResponse(problem)
                }
            }
        }
        v1.post("embeddings") { request, _ -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: maxQueryBody) } catch {
                return errorResponse(.tooLarge("the request body exceeds \(maxQueryBody) bytes"))
            }
            let model = daemon.model
            let parsed: EmbeddingsRequest
            do {
                parsed = try EmbeddingsRequest.decode(body)
                if let name = parsed.model, name != model.manifest.name {
                    throw QueryError.notFound("the model '\(name)' does not exist; this server has '\(model.manifest.name)'", param: "model")
                }
                if let d = parsed.dimensions, d != model.outputWidth {
                    throw QueryError.invalid("dimensions must be \(model.outputWidth) (the embedding width), found \(d)", param: "dimensions")
                }
            } catch let problem as QueryError {
                daemon.metrics.queryRequests(endpoint: "embeddings", status: problem.status).increment()
                return errorResponse(problem)
            }
            do {
                let results = try await daemon.queries.admitted("embeddings") { deadline throws(QueryError) in
                    try await daemon.queries.embedTexts(parsed.inputs, deadline: deadline)
                }
                let tokens = results.reduce(0) { $0 + $1.tokens }
                let data = results.enumerated().map { index, result in
                    "{\"object\":\"embedding\",\"index\":\(index),\"embedding\":"
                        + (parsed.base64 ? "\"\(base64(result.embedding))\"" : "[" + result.embedding.map(JSONText.number).joined(separator: ",") + "]")
                        + "}"
                }
                return json(.ok, "{\"object\":\"list\",\"data\":[\(data.joined(separator: ","))],\"model\":\(JSONText.string(model.manifest.name)),"
                            + "\"usage\":{\"prompt_tokens\":\(tokens),\"total_tokens\":\(tokens)}}\n")
            } catch let problem as QueryError {
                return errorResponse(problem)
            }
        }
    }

    /// An error response with the OpenAI error object; 429 and 503 also say when to retry.
    static func errorResponse(_ problem: QueryError) -> Response {
        var response = Response(status: HTTPResponse.Status(code: problem.status), headers: [.contentType: "application/json"],
                                body: .init(byteBuffer: ByteBuffer(string: problem.json + "\n")))
        if problem.status == 429 || problem.status == 503 { response.headers[.retryAfter] = "1" }
        return response
    }

    /// Little-endian float32 bytes, base64 (OpenAI's `encoding_format: "base64"`).
    static func base64(_ values: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }
}

/// The body of `POST /v1/users/{id}/query`: one query at the top level, or `queries: [{…}, …]` (run in one batch).
struct UserQueryRequest: Decodable {
    struct Item: Decodable {
        var query: String?
        var scenario: String?
        var prototypes: [[Float]]?
        var labels: [String]?
        var tau: Double?
    }
    var query: String?
    var scenario: String?
    var prototypes: [[Float]]?
    var labels: [String]?
    var tau: Double?
    var queries: [Item]?

    /// The queries of a request body; throws 400 naming the problem.
    static func decode(_ body: ByteBuffer) throws(QueryError) -> [ScenarioQuery] {
        let request: UserQueryRequest
        do { request = try JSONDecoder().decode(UserQueryRequest.self, from: Data(buffer: body)) } catch {
            throw .invalid("the body is not a valid query request: \(DecodingProblem(error))")
        }
        if let items = request.queries {
            guard request.query == nil else { throw .invalid("give either query or queries, not both", param: "queries") }
            return try items.enumerated().map { i, item throws(QueryError) in
                guard let query = item.query else { throw .invalid("queries[\(i)] has no query", param: "queries[\(i)].query") }
                return ScenarioQuery(query: query, scenario: item.scenario, prototypes: item.prototypes, labels: item.labels, tau: item.tau)
            }
        }
        guard let query = request.query else { throw .invalid("the body names no query (\"query\" or \"queries\")", param: "query") }
        return [ScenarioQuery(query: query, scenario: request.scenario, prototypes: request.prototypes, labels: request.labels,
                              tau: request.tau)]
    }
}

/// The body of `POST /v1/embeddings` (OpenAI): `input` a string or an array of strings, `model` optional (when
/// given it must be the bundle's name), `encoding_format` `float` (default) or `base64`. Token-id inputs and
/// `dimensions` other than the embedding width are refused.
struct EmbeddingsRequest {
    var inputs: [String]
    var model: String?
    var base64: Bool
    var dimensions: Int?

    static func decode(_ body: ByteBuffer) throws(QueryError) -> EmbeddingsRequest {
        struct Raw: Decodable {
            var input: Input?
            var model: String?
            var encoding_format: String?
            var dimensions: Int?
        }
        enum Input: Decodable {
            case one(String)
            case many([String])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .one(s); return }
                if let a = try? c.decode([String].self) { self = .many(a); return }
                throw DecodingError.dataCorruptedError(in: c, debugDescription:
                    "input must be a string or an array of strings (token-id inputs are not supported)")
            }
        }
        let raw: Raw
        do { raw = try JSONDecoder().decode(Raw.self, from: Data(buffer: body)) } catch {
            throw .invalid("the body is not a valid embeddings request: \(DecodingProblem(error))")
        }
        guard let input = raw.input else { throw .invalid("input is required", param: "input") }
        let format = raw.encoding_format ?? "float"
        guard format == "float" || format == "base64" else {
            throw .invalid("encoding_format must be \"float\" or \"base64\", found \"\(format)\"", param: "encoding_format")
        }
        switch input {
        case .one(let s): return EmbeddingsRequest(inputs: [s], model: raw.model, base64: format == "base64", dimensions: raw.dimensions)
        case .many(let a): return EmbeddingsRequest(inputs: a, model: raw.model, base64: format == "base64", dimensions: raw.dimensions)
        }
    }
}

/// A `DecodingError` as one line naming the field path.
struct DecodingProblem: CustomStringConvertible {
    let error: any Error
    init(_ error: any Error) { self.error = error }

    var description: String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p.hasPrefix(".") ? String(p.dropFirst()) : p)"
        }
        switch error as? DecodingError {
        case .typeMismatch(_, let c)?: return "wrong type\(path(c)): \(c.debugDescription)"
        case .valueNotFound(_, let c)?: return "missing value\(path(c))"
        case .keyNotFound(let key, let c)?: return "missing key '\(key.stringValue)'\(path(c))"
        case .dataCorrupted(let c)?: return "\(c.debugDescription)\(path(c))"
        default: return "malformed JSON"
        }
    }
}
