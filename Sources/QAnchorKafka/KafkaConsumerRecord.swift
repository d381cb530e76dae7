/// A record read from Kafka. Value type; `Sendable`; the bytes are copied out of librdkafka's buffers.
public struct KafkaConsumerRecord: Sendable, Hashable {
    public var topicPartition: KafkaTopicPartition
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// The record's timestamp in milliseconds since the epoch (create or log-append time), if it has one.
    public var timestampMs: Int64?

    public init(topicPartition: KafkaTopicPartition, offset: Int64, key: [UInt8]?, value: [UInt8]?,
                headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.topicPartition = topicPartition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }

    public var topic: String { topicPartition.topic }
    public var partition: Int32 { topicPartition.partition }
    /// The key as UTF-8 text (nil when absent or not valid UTF-8).
    public var keyString: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }
}

/// A record to send. Value type; `Sendable`.
public struct KafkaProducerRecord: Sendable, Hashable {
    public var topic: String
    /// An explicit partition, or nil to let the partitioner choose from the key.
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]
    /// Create time in milliseconds since the epoch; nil means "now".
    public var timestampMs: Int64?

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
                headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }

    public init(topic: String, partition: Int32? = nil, key: String?, value: [UInt8]?,
                headers: [KafkaHeader] = [], timestampMs: Int64? = nil) {
        self.init(topic: topic, partition: partition, key: key.map { Array($0.utf8) }, value: value,
                  headers: headers, timestampMs: timestampMs)
    }
}

/// The broker's acknowledgement of a produced record: where it was written.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topicPartition: KafkaTopicPartition
    /// The record's offset; nil when the broker did not say (possible for retried idempotent sends).
    public var offset: Int64?
    public var timestampMs: Int64?
}
