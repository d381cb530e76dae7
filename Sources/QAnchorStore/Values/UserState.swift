/// Everything stored for one user: per modality, the kept events (oldest first) with their vectors, or
/// the tabular snapshot; the last refresh and the dirty mark.
public struct UserState: Sendable {
    /// The user.
    public var user: UserKey
    /// One entry per configured modality, in configuration order (empty when nothing is stored).
    public var modalities: [ModalityState]
    /// The last completed refresh, if any.
    public var refresh: RefreshRecord?
    /// The pending dirty mark, if any.
    public var dirty: DirtyUser?

    /// Time of the newest stored event or snapshot, if any.
    public var newestEventMs: Int64? {
        modalities.compactMap { m in max(m.events.last?.timestampMs ?? .min, m.snapshot?.timestampMs ?? .min) }
            .filter { $0 != .min }.max()
    }

    /// True when no event and no snapshot is stored.
    public var isEmpty: Bool { modalities.allSatisfy { $0.events.isEmpty && $0.snapshot == nil } }
}
