import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking HTTP/1.1 client over a POSIX socket, for `qanchor refresh`/`query` and tests talking to a
/// daemon (no TLS, `Connection: close`; redirects are returned, not followed). Call it off the cooperative pool for
/// long requests.
public enum LoopbackHTTPClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// POSTs an empty body; returns the status code and the body.
    public static func post(_ url: URL) throws -> (status: Int, body: String) { try request("POST", url) }

    /// GETs; returns the status code and the body.
    public static func get(_ url: URL) throws -> (status: Int, body: String) { try request("GET", url) }

    static func request(_ method: String, _ url: URL) throws -> (status: Int, body: String) {
        let response = try send(method, url)
        return (response.status, response.body)
    }

    /// One exchange: `body` (JSON when non-empty) and extra `headers` out; status, headers (names lower-cased) and
    /// body back.
    public static func send(_ method: String, _ url: URL, body: [UInt8] = [], headers: [String: String] = [:]) throws
        -> (status: Int, headers: [String: String], body: String) {
        guard url.scheme == "http", let host = url.host else { throw Failure(description: "only http:// URLs: \(url)") }
        let port = url.port ?? 80
        var hints = addrinfo(ai_flags: 0, ai_family: AF_UNSPEC, ai_socktype: Int32(SOCK_STREAM.rawValue),
                             ai_protocol: 0, ai_addrlen: 0, ai_addr: nil, ai_canonname: nil, ai_next: nil)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "cannot connect to \(host):\(port) (is the daemon running?)")
        }
        let path = url.path.isEmpty ? "/" : url.path + (url.query.map { "?" + $0 } ?? "")
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        if !body.isEmpty { head += "Content-Type: application/json\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "sending to \(host):\(port) failed: errno \(errno)") }
            sent += n
        }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n", maxSplits: 1).first,
              let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure(description: "not an HTTP response from \(host):\(port)")
        }
        guard let end = text.range(of: "\r\n\r\n") else { return (status, [:], "") }
        var fields: [String: String] = [:]
        for line in text[..<end.lowerBound].split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, fields, String(text[end.upperBound...]))
    }
}
