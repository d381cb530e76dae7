/// The last completed refresh of a user.
public struct RefreshRecord: Sendable, Equatable, Codable {
    /// Grows by one per refresh of the user.
    public var version: UInt64
    /// The model bundle fingerprint used.
    public var fingerprint: String
    /// When the refresh completed (Unix ms).
    public var refreshedAtMs: Int64
    /// The newest event time in the prefix (Unix ms).
    public var newestEventMs: Int64

    /// Creates a record.
    public init(version: UInt64, fingerprint: String, refreshedAtMs: Int64, newestEventMs: Int64) {
        self.version = version
        self.fingerprint = fingerprint
        self.refreshedAtMs = refreshedAtMs
        self.newestEventMs = newestEventMs
    }
}

/// A dirty mark as read: which modalities changed since the user's last refresh.
///
/// `generation` identifies this exact mark: every write that dirties a user gives it a new, larger
/// generation. Marking clean is conditional on it (see `EventStore.commitRefresh`), so a user dirtied
/// again while being refreshed stays dirty.
public struct DirtyUser: Sendable, Hashable {
    /// The dirty user.
    public var user: UserKey
    /// Bit i set = modality i changed.
    public var modalityMask: UInt64
    /// When the user first became dirty since its last refresh (Unix ms, wall clock of the write).
    public var firstDirtyMs: Int64
    /// The mark's generation (see the type's comment).
    public var generation: UInt64
}

/// A finished refresh to record: the dirty mark it started from, its record and the output records it
/// published (one per scenario), stored so the daemon can serve them.
public struct CompletedRefresh: Sendable {
    /// The dirty mark the refresh started from (as returned by `dirtyUsers`).
    public var observed: DirtyUser
    /// The user's new refresh record.
    public var record: RefreshRecord
    /// scenario id → published record bytes. Scenarios not listed keep their previous output.
    public var outputs: [String: [UInt8]]

    /// Creates a finished refresh.
    public init(observed: DirtyUser, record: RefreshRecord, outputs: [String: [UInt8]]) {
        self.observed = observed
        self.record = record
        self.outputs = outputs
    }
}

/// The outcome of recording refreshes.
public struct RefreshCommitResult: Sendable, Equatable {
    /// Users whose dirty mark was removed.
    public var cleaned = 0
    /// Users left dirty because they were dirtied again after the mark was read.
    public var stillDirty: [UserKey] = []
}
