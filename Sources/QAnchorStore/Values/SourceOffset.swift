/// A consumer position: the next offset to read from (topic, partition).
public struct SourceOffset: Sendable, Hashable, Codable {
    /// The source topic.
    public var topic: String
    /// The source partition.
    public var partition: Int32
    /// The offset of the next record to consume (Kafka's committed-offset convention).
    public var nextOffset: Int64

    /// Creates a position.
    public init(topic: String, partition: Int32, nextOffset: Int64) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
    }
}
