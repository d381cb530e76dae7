/// A cached prefix KV state of one user: opaque bytes plus what they were computed from.
/// It is returned only to a caller presenting the same content hash and fingerprint.
public struct PrefixKVEntry: Sendable, Equatable {
    /// Hash of the prefix content (1…64 bytes).
    public var contentHash: [UInt8]
    /// The model bundle fingerprint.
    public var fingerprint: String
    /// The serialized KV state.
    public var bytes: [UInt8]

    /// Creates an entry.
    public init(contentHash: [UInt8], fingerprint: String, bytes: [UInt8]) {
        self.contentHash = contentHash
        self.fingerprint = fingerprint
        self.bytes = bytes
    }
}
