import CRdKafka

/// Owns an `rd_kafka_topic_partition_list_t` and converts it to and from Swift values.
/// Not thread-safe; used within one call.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    private let owned: Bool

    init(capacity: Int = 0) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
        owned = true
    }

    /// Wraps a list librdkafka owns (e.g. in a callback); it is not destroyed by us.
    init(borrowing pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
        owned = false
    }

    convenience init(_ partitions: some Sequence<KafkaTopicPartition>, offset: Int64 = -1001) {
        self.init()
        for tp in partitions { add(tp, offset: offset) }
    }

    convenience init(_ offsets: [KafkaTopicPartition: Int64]) {
        self.init(capacity: offsets.count)
        for (tp, offset) in offsets.sorted(by: { $0.key < $1.key }) { add(tp, offset: offset) }
    }

    deinit { if owned { rd_kafka_topic_partition_list_destroy(pointer) } }

    func add(_ tp: KafkaTopicPartition, offset: Int64 = -1001) {
        let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)
        element?.pointee.offset = offset
    }

    var count: Int { Int(pointer.pointee.cnt) }

    struct Element {
        var topicPartition: KafkaTopicPartition
        var offset: Int64
        var error: rd_kafka_resp_err_t
    }

    var elements: [Element] {
        (0..<count).map { i in
            let e = pointer.pointee.elems[i]
            return Element(topicPartition: KafkaTopicPartition(String(cString: e.topic), e.partition),
                           offset: e.offset, error: e.err)
        }
    }

    var topicPartitions: [KafkaTopicPartition] { elements.map(\.topicPartition) }

    func setOffset(_ offset: Int64, at index: Int) {
        pointer.pointee.elems[index].offset = offset
    }

    /// The first per-partition error, if any.
    func firstError(context: String) -> KafkaError? {
        for e in elements where e.error.rawValue != 0 {
            return KafkaError(e.error, context: "\(context) (\(e.topicPartition))")
        }
        return nil
    }
}
