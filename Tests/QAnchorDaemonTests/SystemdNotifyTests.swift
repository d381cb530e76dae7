import Foundation
import QAnchorTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `qanchor serve` under `Type=notify`: the datagrams systemd would receive on `$NOTIFY_SOCKET`.
@Suite struct SystemdNotifyTests {
    /// A bound AF_UNIX datagram socket standing in for systemd's.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("qn-\(UUID().uuidString.prefix(8))").path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw Subprocess.Failure(description: "cannot bind \(path)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd); unlink(path) }

        /// Messages received until `timeout` or until `until` holds for the ones so far.
        func receive(timeout: Duration, until: ([String]) -> Bool) -> [String] {
            var messages: [String] = []
            let deadline = ContinuousClock.now + timeout
            var buffer = [UInt8](repeating: 0, count: 4096)
            while ContinuousClock.now < deadline, !until(messages) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
            }
            return messages
        }
    }

    @Test func readyWatchdogAndStoppingReachTheNotifySocket() async throws {
        let notify = try NotifySocket()
        let harness = try DaemonHarness(name: "notify")
        try harness.createTopics(partitions: 2)
        try await harness.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        let started = notify.receive(timeout: .seconds(60)) { m in
            m.contains { $0.hasPrefix("READY=1") } && m.filter { $0 == "WATCHDOG=1" }.count >= 2
        }
        #expect(started.contains { $0.hasPrefix("READY=1") }, "\(started)")
        #expect(started.filter { $0 == "WATCHDOG=1" }.count >= 2, "watchdog pings every WATCHDOG_USEC/2: \(started)")
        let stop = Task { await harness.stop() }
        let stopping = notify.receive(timeout: .seconds(30)) { m in m.contains { $0.hasPrefix("STOPPING=1") } }
        #expect(stopping.contains { $0.hasPrefix("STOPPING=1") }, "\(stopping)")
        #expect(await stop.value == 0)
    }
}
