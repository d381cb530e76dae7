/// A content-cache entry: the vector `h` computed for a text, keyed by (modality, text hash).
public struct ContentCacheEntry: Sendable {
    /// Index into `StoreConfiguration.modalities` (a text modality).
    public var modality: Int
    /// Hash of the text (1…64 bytes).
    public var textHash: [UInt8]
    /// The vector `h` computed for it.
    public var vector: [Float]

    /// Creates a cache entry.
    public init(modality: Int, textHash: [UInt8], vector: [Float]) {
        self.modality = modality
        self.textHash = textHash
        self.vector = vector
    }
}
