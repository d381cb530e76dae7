import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd's service notification protocol (`sd_notify`), spoken directly: one datagram per state change to the
/// `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). No libsystemd.
/// `READY=1` once the daemon consumes, `STOPPING=1` when it drains, `WATCHDOG=1` every half `$WATCHDOG_USEC` while
/// it is alive (ops/deploy/qanchor.service: `Type=notify`, `WatchdogSec=`).
///
/// Threading: immutable; `send` may be called from any thread.
public struct SystemdNotifier: Sendable {
    /// The socket address bytes (`sun_path`, a leading NUL for the abstract namespace).
    let path: [UInt8]
    /// Half the watchdog interval systemd asked for, or nil without a watchdog.
    public let watchdogInterval: Duration?

    /// The notifier the environment asks for, or nil when not run by systemd with `Type=notify`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let socket = environment["NOTIFY_SOCKET"], !socket.isEmpty else { return nil }
        var path = Array(socket.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        guard path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        let watchdog = environment["WATCHDOG_USEC"].flatMap(Int64.init).flatMap { $0 > 0 ? Duration.microseconds($0 / 2) : nil }
        // WATCHDOG_PID, when set, must be ours.
        if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() {
            return SystemdNotifier(path: path, watchdogInterval: nil)
        }
        return SystemdNotifier(path: path, watchdogInterval: watchdog)
    }

    public func ready(status: String = "consuming") { send("READY=1\nSTATUS=\(status)") }
    public func stopping() { send("STOPPING=1\nSTATUS=draining") }
    public func watchdog() { send("WATCHDOG=1") }

    /// Sends one notification; failures are ignored (systemd may be gone while we stop).
    public func send(_ message: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }
}
