import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with `posix_spawn` + `waitpid` (Foundation's `Process.waitUntilExit` can hang
/// when called from a test's static initializer). Input and output go through temporary files.
public enum Subprocess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Starts `path` with `arguments`; standard input from a file, standard output appended to (or truncating) a
    /// file, standard error to a file, to standard output (`"&1"`), or inherited (nil).
    public static func spawn(_ path: String, _ arguments: [String], environment: [String: String]?,
                             standardInput: String, standardOutput: String, append: Bool = false,
                             standardError: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o600)
        if standardError == "&1" {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else if let standardError {
            posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY, 0)
        }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw Failure(description: "cannot start \(path): errno \(spawned)") }
        return pid
    }

    /// Returns the exit status and standard output; standard error is discarded unless `showErrors`.
    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                    input: String? = nil, showErrors: Bool = false) throws -> (status: Int32, output: String) {
        let directory = FileManager.default.temporaryDirectory
        let inputPath = directory.appendingPathComponent("qanchor-in-\(UUID().uuidString)").path
        let outputPath = directory.appendingPathComponent("qanchor-out-\(UUID().uuidString)").path
        defer {
            unlink(inputPath)
            unlink(outputPath)
        }
        _ = FileManager.default.createFile(atPath: inputPath, contents: Data((input ?? "").utf8))

        let pid = try spawn(path, arguments, environment: environment, standardInput: inputPath,
                            standardOutput: outputPath, standardError: showErrors ? nil : "/dev/null")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Failure(description: "waitpid \(path): errno \(errno)") }
        }
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        // Invalid UTF-8 (a test may print raw bad records) becomes U+FFFD instead of losing the whole output.
        let output = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outputPath))) ?? Data(), as: UTF8.self)
        return (exitStatus, output)
    }
}
