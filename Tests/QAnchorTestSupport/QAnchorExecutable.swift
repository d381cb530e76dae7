import Foundation

/// The built `qanchor` binary, for tests that run it as a user would: `QANCHOR_BIN`, else next to the test bundle,
/// else `.build/debug/qanchor`.
public enum QAnchorExecutable {
    /// The built `qanchor` (or another product of the package, `name`); `QANCHOR_BIN` overrides `qanchor`'s.
    public static func url(named name: String = "qanchor") throws -> URL {
        if name == "qanchor", let path = ProcessInfo.processInfo.environment["QANCHOR_BIN"] { return URL(fileURLWithPath: path) }
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
            TestBroker.repositoryRoot.appendingPathComponent(".build/debug/\(name)"),
        ]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw Subprocess.Failure(description: "\(name) is not built (looked at \(candidates.map(\.path))): run `swift build` or set QANCHOR_BIN")
        }
        return found
    }

    /// Runs `qanchor` with these arguments; returns the exit status, standard output and standard error.
    /// `environment` adds (or overrides) variables for this run.
    public static func run(_ arguments: [String], input: String? = nil,
                           environment: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
        let errorsPath = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-err-\(UUID().uuidString)").path
        defer { unlink(errorsPath) }
        let binary = try url().path
        func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(quote($0.value)) " }.joined()
        let command = assignments + ([binary] + arguments).map(quote).joined(separator: " ")
        let (status, output) = try Subprocess.run("/bin/sh", ["-c", command + " 2>'\(errorsPath)'"],
                                                  input: input)
        let errors = (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
        return (status, output, errors)
    }
}
