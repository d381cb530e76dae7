/// A partition of a topic. Value type; `Sendable`; usable as a dictionary key.
public struct KafkaTopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (a: Self, b: Self) -> Bool {
        a.topic == b.topic ? a.partition < b.partition : a.topic < b.topic
    }
}

/// Where a consumer starts reading a partition.
public enum KafkaOffset: Sendable, Hashable, CustomStringConvertible {
    /// The oldest record still in the log.
    case beginning
    /// After the newest record: only records produced from now on.
    case end
    /// The group's committed offset, or `auto.offset.reset` when there is none.
    case committed
    /// An exact offset: the next record to read.
    case exactly(Int64)
    /// The first record whose timestamp is at or after this time (ms since the epoch), resolved with the broker
    /// when the partition is assigned; `.end` when there is none, `.beginning` when the lookup fails.
    case firstAtOrAfter(timestampMs: Int64)
    /// Assigned but not fetched: the partition stays paused until the application calls `KafkaConsumer.start`
    /// with its real start (e.g. after restoring the partition's state from elsewhere).
    case deferred

    var raw: Int64 {
        switch self {
        case .beginning: return -2  // RD_KAFKA_OFFSET_BEGINNING
        case .end: return -1  // RD_KAFKA_OFFSET_END
        case .committed: return -1000  // RD_KAFKA_OFFSET_STORED
        case .exactly(let offset): return offset
        case .firstAtOrAfter: return -2  // resolved before use; the beginning if it ever is not
        case .deferred: return -2  // paused until `start` seeks it; nothing is fetched from here
        }
    }

    public var description: String {
        switch self {
        case .beginning: return "beginning"
        case .end: return "end"
        case .committed: return "committed"
        case .exactly(let offset): return String(offset)
        case .firstAtOrAfter(let timestampMs): return "first at or after \(timestampMs) ms"
        case .deferred: return "deferred"
        }
    }
}

/// A record header: a name and optional bytes. Kafka allows repeated names; order is preserved.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?

    public init(_ name: String, _ value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name, Array(value.utf8))
    }

    /// The value as UTF-8 text, if present and valid.
    public var stringValue: String? { value.flatMap { String(validating: $0, as: UTF8.self) } }
}

extension Array where Element == KafkaHeader {
    /// The last header with this name (Kafka semantics: the newest wins), as UTF-8 text.
    public func string(_ name: String) -> String? { last(where: { $0.name == name })?.stringValue }
}
