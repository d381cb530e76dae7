/// A user's last refresh as recorded elsewhere (e.g. by the previous owner of its partition), to install with
/// `EventStore.restoreRefreshes`: the record (version, fingerprint, input digest) and the outputs it published.
public struct RestoredRefresh: Sendable {
    /// The user.
    public var user: UserKey
    /// The refresh record.
    public var record: RefreshRecord
    /// scenario id → published record bytes (all of them: the previous set is replaced).
    public var outputs: [String: [UInt8]]

    /// Creates a restored refresh.
    public init(user: UserKey, record: RefreshRecord, outputs: [String: [UInt8]]) {
        self.user = user
        self.record = record
        self.outputs = outputs
    }
}
