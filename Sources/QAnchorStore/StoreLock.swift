import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The writer's lock on a store directory: an exclusive advisory `flock` on `<store>/qanchor.lock` (0600, holding
/// the owner's pid). Its holder owns the store's journal (replays it at open, writes it) and, for the daemon and
/// `qanchor replay`, is the only qanchor process writing the store. Tools that only read (`inspect`, `backup`)
/// open without it. The kernel releases it when the process dies, even after SIGKILL.
///
/// Invariant: while the value lives (until ``release()``), this process holds the lock.
/// Threading: `release` once, at close; otherwise immutable.
public final class StoreLock: @unchecked Sendable {
    public let path: String
    private var descriptor: Int32

    /// The file name inside the store directory.
    public static let fileName = "qanchor.lock"

    /// Takes the lock without waiting, creating the directory (0700) if needed; nil when another process holds it.
    public static func acquire(directory: URL) throws -> StoreLock? {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let path = directory.appendingPathComponent(fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io(path: path, operation: "open store lock", reason: String(cString: strerror(errno))) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw StoreError.io(path: path, operation: "flock store lock", reason: String(cString: strerror(code)))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return StoreLock(path: path, descriptor: fd)
    }

    /// Takes the lock or throws ``StoreError/locked(path:holder:)`` naming the process that holds it.
    public static func exclusive(directory: URL) throws -> StoreLock {
        if let lock = try acquire(directory: directory) { return lock }
        let path = directory.appendingPathComponent(fileName).path
        let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        throw StoreError.locked(path: directory.path, holder: holder.flatMap(Int32.init))
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Releases the lock (idempotent).
    public func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}
