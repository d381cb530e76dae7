/// How an LMDB environment is opened. A value type; every member has a default.
public struct LMDBEnvironmentOptions: Sendable, Equatable {
    /// Initial size of the memory map in bytes (rounded up by LMDB to a page multiple). The map grows
    /// (doubling) when a write finds it full.
    public var initialMapSize: Int = 1 << 30
    /// The map never grows beyond this; a write that needs more fails with `StoreError.mapSizeLimit`.
    public var maximumMapSize: Int = 1 << 40
    /// Maximum concurrent read transactions (LMDB's reader table size).
    public var maxReaders: Int = 256
    /// Maximum number of named databases.
    public var maxDatabases: Int = 32
    /// Commit durability.
    public var durability: Durability = .durable
    /// `MDB_WRITEMAP`: the writer modifies pages in the shared map instead of copying them into
    /// malloc'ed buffers and `pwrite`-ing them at commit. Fewer copies; the data file's apparent size
    /// becomes the map size (sparse).
    public var writeMap = false

    /// The defaults.
    public init() {}
}

/// What a committed write transaction survives.
///
/// - `durable`: data and meta pages are fsync'ed at every commit: a committed transaction survives a
///   process crash and an OS crash or power loss. Costs about one fdatasync (~0.2 ms here) per commit;
///   the writer thread batches many requests into one commit to amortise it.
/// - `noMetaSync` (`MDB_NOMETASYNC`): data pages are synced, the meta page is not: after an OS crash the
///   last committed transaction may be rolled back; integrity is kept. Process crashes lose nothing.
/// - `noSync` (`MDB_NOSYNC`): nothing is fsync'ed by commits: process crashes lose nothing (the page
///   cache survives), an OS crash may lose recent transactions, and integrity then relies on the file
///   system keeping write order. Use only when the source (Kafka) can be replayed; the stored offsets
///   roll back together with the events they cover, so a replay re-delivers exactly what was lost.
public enum Durability: String, Sendable, CaseIterable, Codable {
    case durable
    case noMetaSync
    case noSync
}
