import Foundation

/// An exclusive advisory lock (`flock`) on `journal.lock` in the store directory, held for the life of
/// the `EventStore` that owns the journal. It keeps a second process (a tool such as `qanchor inspect`,
/// or a second daemon by mistake) from replaying or writing a journal that a live writer owns. The
/// kernel releases it when the process dies, so a crashed writer never leaves it behind.
///
/// Threading: immutable after init; `release` once, at close.
final class JournalLock: @unchecked Sendable {
    private var fd: Int32

    /// Takes the lock without waiting; returns nil when another process holds it.
    init?(directory: URL) throws {
        let path = directory.appendingPathComponent("journal.lock").path
        let f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw StoreError.io(path: path, operation: "open journal lock", reason: String(cString: strerror(errno))) }
        if flock(f, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(f)
            if code == EWOULDBLOCK { return nil }
            throw StoreError.io(path: path, operation: "flock journal lock", reason: String(cString: strerror(code)))
        }
        fd = f
    }

    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
