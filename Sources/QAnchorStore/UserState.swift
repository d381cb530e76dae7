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

/// One modality of a user's state.
public struct ModalityState: Sendable {
    /// The modality index.
    public var modality: Int
    /// The modality name.
    public var name: String
    /// Text modalities: at most K_m events, oldest first.
    public var events: [StoredEvent]
    /// Tabular modalities: the newest snapshot in the window.
    public var snapshot: TabularSnapshot?
}

/// One stored text event.
public struct StoredEvent: Sendable, Equatable {
    /// The event id.
    public var eventID: String
    /// Event time (Unix ms).
    public var timestampMs: Int64
    /// Hash of the event text, as ingested.
    public var textHash: [UInt8]
    /// `h`, decoded to Float (fp16-stored vectors come back rounded).
    public var vector: [Float]
}

/// A stored tabular snapshot.
public struct TabularSnapshot: Sendable, Equatable {
    /// The event id.
    public var eventID: String
    /// Event time (Unix ms).
    public var timestampMs: Int64
    /// The F features, decoded to Float.
    public var features: [Float]
}
