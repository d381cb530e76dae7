import Foundation

/// Everything an `EventStore` is opened with. A `Sendable` value; every member has a default except the
/// directory and the modalities.
public struct StoreConfiguration: Sendable {
    /// The LMDB environment directory (created with mode 0700 when absent).
    public var directory: URL
    /// The modalities, in the order of the model bundle. A modality's position is its index in every
    /// key and in dirty bitmasks (at most 64); the store remembers them and refuses a reordering (new
    /// modalities may be appended; caps and dimensions may change). Empty = use the stored ones (an
    /// existing store only; for tools such as `qanchor inspect`).
    public var modalities: [ModalitySchema]
    /// The rolling window: events older than `now − window` are pruned (at ingest and by the sweep).
    public var windowMilliseconds: Int64 = 90 * 86_400_000
    /// Encoding of newly written vectors.
    public var vectorEncoding: VectorEncoding = .float16
    /// Byte budget of the prefix KV cache; 0 disables it. Least recently stored entries are evicted.
    public var prefixKVBudgetBytes: Int = 0
    /// How many submitted write requests the writer thread may apply in one transaction (one commit).
    public var maxRequestsPerTransaction: Int = 64
    /// LMDB environment settings (map size and growth, readers, durability, write map): the engine's own knobs, for
    /// tools and benchmarks of the store. Applications set ``durability`` and ``initialSizeBytes``.
    public var environment = LMDBEnvironmentOptions()

    /// What a committed write survives (``Durability``).
    public var durability: Durability {
        get { environment.durability }
        set { environment.durability = newValue }
    }

    /// Bytes the store reserves for its data at first (it grows, doubling, up to `environment.maximumMapSize`).
    public var initialSizeBytes: Int {
        get { environment.initialMapSize }
        set { environment.initialMapSize = newValue }
    }
    /// When transactions are committed: per request (default) or journaled with periodic checkpoints.
    /// See `CommitMode` for what readers see in each.
    public var commitMode: CommitMode = .perRequest

    /// A configuration with defaults for everything else.
    public init(directory: URL, modalities: [ModalitySchema]) {
        self.directory = directory
        self.modalities = modalities
    }

    /// Checks the configuration; throws `StoreError.invalidConfiguration` naming the problem.
    public func validate() throws {
        guard modalities.count <= 64 else {
            throw StoreError.invalidConfiguration("at most 64 modalities, got \(modalities.count)")
        }
        var seen = Set<String>()
        for (i, m) in modalities.enumerated() {
            guard !m.name.isEmpty, m.name.utf8.count <= 64 else {
                throw StoreError.invalidConfiguration("modality #\(i) name must be 1…64 bytes")
            }
            guard seen.insert(m.name).inserted else { throw StoreError.invalidConfiguration("modality '\(m.name)' appears twice") }
            guard m.dimension > 0 else { throw StoreError.invalidConfiguration("modality '\(m.name)' dimension must be > 0") }
            guard m.kind == .tabular || m.cap > 0 else {
                throw StoreError.invalidConfiguration("modality '\(m.name)' cap K_m must be > 0")
            }
        }
        guard windowMilliseconds > 0 else { throw StoreError.invalidConfiguration("windowMilliseconds must be > 0") }
        guard environment.initialMapSize > 0, environment.maximumMapSize >= environment.initialMapSize else {
            throw StoreError.invalidConfiguration("need 0 < initialMapSize ≤ maximumMapSize")
        }
        if case let .journaled(interval, maxEvents) = commitMode {
            guard interval > .zero, maxEvents > 0 else {
                throw StoreError.invalidConfiguration("journaled commit mode needs interval > 0 and maxEvents > 0")
            }
        }
        guard prefixKVBudgetBytes >= 0 else { throw StoreError.invalidConfiguration("prefixKVBudgetBytes must be ≥ 0") }
    }
}
