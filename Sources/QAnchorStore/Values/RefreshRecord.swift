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
    /// A digest of exactly what the model read (opaque to the store; empty: unknown). A refresh whose inputs have
    /// the same digest, under the same fingerprint, would publish the same embeddings.
    public var inputDigest: [UInt8]

    /// Creates a record.
    public init(version: UInt64, fingerprint: String, refreshedAtMs: Int64, newestEventMs: Int64,
                inputDigest: [UInt8] = []) {
        self.version = version
        self.fingerprint = fingerprint
        self.refreshedAtMs = refreshedAtMs
        self.newestEventMs = newestEventMs
        self.inputDigest = inputDigest
    }
}
