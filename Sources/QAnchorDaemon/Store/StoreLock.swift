import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive, advisory lock on a store directory (`flock` on `<store>/qanchor.lock`, 0600, holding the
/// owner's pid): at most one writing qanchor process (`serve`, `replay`) per store. Read-only tools (`inspect`,
/// `store backup`) do not take it. The kernel releases it when the process exits, even after SIGKILL.
///
/// Invariant: while the value lives, this process holds the lock. Threading: immutable; any thread.
public final class StoreLock: Sendable {
    public let path: String
    private let descriptor: Int32

    /// Takes the lock, creating the directory (0700) if needed. Throws `StoreLockError.held` naming the other
    /// process when it is taken.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        path = directory.appendingPathComponent("qanchor.lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreLockError.cannotOpen(path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw StoreLockError.held(path: path, holder: holder.flatMap(Int32.init))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit {
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// Why a `StoreLock` could not be taken.
public enum StoreLockError: Error, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case held(path: String, holder: Int32?)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code):
            return "cannot open the store lock \(path): \(String(cString: strerror(code)))"
        case .held(let path, let holder):
            return "the store is in use by another qanchor process\(holder.map { " (pid \($0))" } ?? "") — \(path)"
        }
    }
}
