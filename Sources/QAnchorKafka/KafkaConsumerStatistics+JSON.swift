import Foundation

extension KafkaConsumerStatistics {
    /// The part of librdkafka's statistics JSON (`statistics.interval.ms`) read here: per topic, per partition id.
    private struct Document: Decodable {
        struct Topic: Decodable { var partitions: [String: Partition] }
        struct Partition: Decodable {
            var fetch_state: String?
            var desired: Bool?
            var hi_offset: Int64?
            var app_offset: Int64?
            var committed_offset: Int64?
            var consumer_lag: Int64?
            var next_offset: Int64?
        }
        var topics: [String: Topic]
    }

    /// Parses librdkafka's statistics JSON, keeping the partitions being fetched. Returns nil for malformed input.
    init?(librdkafkaJSON bytes: UnsafeRawBufferPointer) {
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(bytes)) else { return nil }
        func number(_ value: Int64?) -> Int64? { value.flatMap { $0 < 0 ? nil : $0 } }  // -1001: unknown
        var partitions: [KafkaTopicPartition: KafkaPartitionStatistics] = [:]
        for (topic, topicValue) in document.topics {
            for (key, p) in topicValue.partitions {
                guard let id = Int32(key), id >= 0 else { continue }  // "-1": the unassigned-partition bucket
                let fetching = p.fetch_state.map { $0 != "none" } ?? false
                guard fetching || p.desired == true else { continue }
                let high = number(p.hi_offset), position = number(p.app_offset)
                // librdkafka's consumer_lag counts from the committed offset; what operators need is how far the
                // application's position is behind, so prefer that when both ends are known.
                let lag = high.flatMap { h in position.map { max(0, h - $0) } } ?? number(p.consumer_lag)
                partitions[KafkaTopicPartition(topic, id)] = KafkaPartitionStatistics(
                    highWatermark: high, position: position, committedOffset: number(p.committed_offset), lag: lag,
                    nextFetchOffset: number(p.next_offset))
            }
        }
        self.partitions = partitions
    }
}
