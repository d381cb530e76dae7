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
