import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process running in the background (posix_spawn), its standard output and error appended to `logPath`.
/// `stop` sends SIGTERM and waits; `kill` sends SIGKILL. The process is killed when this object is released.
public final class BackgroundProcess: @unchecked Sendable {
    public let pid: pid_t
    public let logPath: String
    private var reaped = false
    private let lock = NSLock()

    public init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, logPath: String) throws {
        self.logPath = logPath
        let pid = try Subprocess.spawn(path, arguments, environment: environment, standardInput: "/dev/null",
                                       standardOutput: logPath, append: true, standardError: "&1")
        self.pid = pid
    }

    deinit { _ = kill() }

    /// The log so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then waits up to `timeout` for the exit; returns the exit status (nil if it did not exit).
    @discardableResult
    public func stop(timeout: Duration = .seconds(30)) async -> Int32? {
        Glibc.kill(pid, SIGTERM)
        return await wait(timeout: timeout)
    }

    /// SIGKILL and reap.
    @discardableResult
    public func kill() -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if reaped { return nil }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        reaped = true
        return status
    }

    /// Waits for the exit; returns the exit code (128 + signal when killed), nil on timeout.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (done, status) = poll()
            if done == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            if done == -1 { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    private func poll() -> (pid_t, Int32) {
        lock.withLock {
            var status: Int32 = 0
            let done = reaped ? -1 : waitpid(pid, &status, WNOHANG)
            if done == pid { reaped = true }
            return (done, status)
        }
    }

    /// Whether the process still runs.
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if reaped { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { reaped = true; return false }
        return true
    }
}
