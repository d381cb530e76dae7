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
