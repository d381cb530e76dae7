import CLMDB
import Foundation
import Logging

/// An open LMDB environment (one directory holding `data.mdb` and `lock.mdb`).
///
/// Invariants: opened with `MDB_NOTLS`, so read transactions are not bound to threads; the directory is
/// created with mode 0700 and the files with 0600 (they hold user data). Write transactions are begun
/// only by the single writer (`LMDBWriteQueue`). The map is resized only while no read transaction of
/// this process is active (`ReaderGate`).
///
/// Threading: `read` may be called from any thread concurrently; `beginWrite`, `grow` are for the writer
/// thread. `close` must be called once, after all other use has ended.
final class LMDBEnvironment: @unchecked Sendable {
    let pointer: OpaquePointer
    let directory: URL
    let options: LMDBEnvironmentOptions
    private let gate = ReaderGate()
    private let logger: Logger
    private let mapSizeLock = NSLock()
    private var currentMapSize: Int

    /// Opens (creating when absent) the environment in `directory`.
    init(directory: URL, options: LMDBEnvironmentOptions, logger: Logger) throws {
        self.directory = directory
        self.options = options
        self.logger = logger
        try Self.prepareDirectory(directory)

        var env: OpaquePointer?
        try LMDBError.check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create", context: directory.path) }
        do {
            let path = directory.path
            try LMDBError.check(mdb_env_set_maxreaders(env, UInt32(options.maxReaders)), "mdb_env_set_maxreaders")
            try LMDBError.check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_mapsize(env, options.initialMapSize), "mdb_env_set_mapsize", "\(options.initialMapSize) bytes")
            var flags = UInt32(MDB_NOTLS)
            if options.writeMap { flags |= UInt32(MDB_WRITEMAP) }
            switch options.durability {
            case .durable: break
            case .noMetaSync: flags |= UInt32(MDB_NOMETASYNC)
            case .noSync: flags |= UInt32(MDB_NOSYNC)
            }
            let rc = mdb_env_open(env, path, flags, 0o600)
            if rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED {
                throw StoreError.notAStore(path: path, reason: "data.mdb is not a readable LMDB file (\(String(cString: mdb_strerror(rc))))")
            }
            try LMDBError.check(rc, "mdb_env_open", path)
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.pointer = env
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        self.currentMapSize = info.me_mapsize
        for file in ["data.mdb", "lock.mdb"] {
            chmod(directory.appendingPathComponent(file).path, 0o600)
        }
        var dead: Int32 = 0
        try LMDBError.check(mdb_reader_check(env, &dead), "mdb_reader_check", path(directory))
        if dead > 0 {
            logger.warning("cleared stale LMDB reader slots left by dead processes",
                           metadata: ["store": "\(directory.path)", "slots": "\(dead)"])
        }
    }

    private func path(_ url: URL) -> String { url.path }

    private static func prepareDirectory(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue {
                throw StoreError.notAStore(path: directory.path, reason: "exists and is not a directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(
                    at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.io(path: directory.path, operation: "create directory", reason: "\(error)")
            }
        }
    }

    /// Closes the environment. No transaction may be active.
    func close() { mdb_env_close(pointer) }

    /// The map size currently in use, in bytes.
    var mapSize: Int {
        mapSizeLock.lock(); defer { mapSizeLock.unlock() }
        return currentMapSize
    }

    /// LMDB's environment info (map size, last page used, last transaction id, readers).
    func info() -> MDB_envinfo {
        var info = MDB_envinfo()
        mdb_env_info(pointer, &info)
        return info
    }

    /// LMDB's page size for this environment.
    var pageSize: Int {
        var s = MDB_stat()
        mdb_env_stat(pointer, &s)
        return Int(s.ms_psize)
    }

    /// Runs `body` in a read-only transaction. Callable from any thread; the transaction is aborted
    /// (read transactions have nothing to commit) when `body` returns.
    func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            gate.enter()
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(pointer, nil, UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                gate.leave()
                try adoptResizedMap()
                continue
            }
            defer { gate.leave() }
            try LMDBError.check(rc, "mdb_txn_begin(read)", directory.path)
            let transaction = LMDBTransaction(pointer: txn!, isReadOnly: true)
            defer { transaction.abort() }
            return try body(transaction)
        }
    }

    /// Begins a write transaction (or a nested one inside `parent`). Writer thread only.
    func beginWrite(parent: LMDBTransaction? = nil) throws -> LMDBTransaction {
        while true {
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(pointer, parent?.pointer, 0, &txn)
            if rc == MDB_MAP_RESIZED && parent == nil {
                try adoptResizedMap()
                continue
            }
            try LMDBError.check(rc, "mdb_txn_begin(write)", directory.path)
            return LMDBTransaction(pointer: txn!, isReadOnly: false)
        }
    }

    /// Doubles the map (bounded by `maximumMapSize`). Writer thread only, with no write transaction open.
    func grow() throws {
        let old = mapSize
        guard old < options.maximumMapSize else {
            throw StoreError.mapSizeLimit(path: directory.path, mapSize: old, limit: options.maximumMapSize)
        }
        let new = min(old * 2, options.maximumMapSize)
        try gate.exclusive {
            try LMDBError.check(mdb_env_set_mapsize(pointer, new), "mdb_env_set_mapsize", "\(new) bytes")
        }
        let info = info()
        mapSizeLock.lock(); currentMapSize = info.me_mapsize; mapSizeLock.unlock()
        logger.info("grew LMDB map", metadata: ["store": "\(directory.path)", "from": "\(old)", "to": "\(info.me_mapsize)"])
    }

    /// Grows the map (doubling, up to `maximumMapSize`) until the used part plus `headroom` bytes fits
    /// in it. Writer thread only, with no write transaction open. Lets the journaled writer grow between
    /// transactions instead of hitting `MDB_MAP_FULL` inside a long one (which costs a rebuild).
    /// Returns the number of doublings.
    func reserve(headroom: Int) throws -> Int {
        var growths = 0
        while (info().me_last_pgno + 1) * pageSize + headroom > mapSize && mapSize < options.maximumMapSize {
            try grow()
            growths += 1
        }
        return growths
    }

    /// Adopts a map size grown by another process (`MDB_MAP_RESIZED`).
    private func adoptResizedMap() throws {
        try gate.exclusive {
            try LMDBError.check(mdb_env_set_mapsize(pointer, 0), "mdb_env_set_mapsize(0)", directory.path)
        }
        let info = info()
        mapSizeLock.lock(); currentMapSize = info.me_mapsize; mapSizeLock.unlock()
    }

    /// Opens (creating when `create`) the named databases in one write transaction. Call before the
    /// writer thread starts. Returns nil for a database that does not exist when `create` is false.
    func openDatabase(_ name: String?, in txn: LMDBTransaction, create: Bool) throws -> LMDBDatabase? {
        var dbi: MDB_dbi = 0
        let rc = mdb_dbi_open(txn.pointer, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
        if rc == MDB_NOTFOUND { return nil }
        if rc == MDB_INCOMPATIBLE {
            throw StoreError.notAStore(path: directory.path, reason: "database '\(name ?? "main")' has incompatible flags")
        }
        try LMDBError.check(rc, "mdb_dbi_open", name ?? "main")
        return LMDBDatabase(name: name ?? "main", dbi: dbi)
    }

    /// Forces the data to disk (useful under `noSync` / `noMetaSync`).
    func sync() throws {
        try LMDBError.check(mdb_env_sync(pointer, 1), "mdb_env_sync", directory.path)
    }

    /// Writes a consistent copy of the environment into `target` (an empty or absent directory) while
    /// readers and the writer keep running. With `compact`, free pages are omitted and the copy is
    /// renumbered, so it is as small as the live data.
    func copy(to target: URL, compact: Bool) throws {
        try Self.prepareDirectory(target)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: target.path)) ?? []
        if !existing.isEmpty {
            throw StoreError.io(path: target.path, operation: "backup", reason: "target directory is not empty")
        }
        let flags = compact ? UInt32(MDB_CP_COMPACT) : 0
        try LMDBError.check(mdb_env_copy2(pointer, target.path, flags), "mdb_env_copy2", target.path)
        chmod(target.appendingPathComponent("data.mdb").path, 0o600)
    }
}
