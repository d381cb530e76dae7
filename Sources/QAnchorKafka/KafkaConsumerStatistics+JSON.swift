import Foundation

extension KafkaConsumerStatistics {
    /// Parses librdkafka's statistics JSON (`statistics.interval.ms`), keeping the partitions being fetched.
    /// Returns nil for malformed input.
    init?(librdkafkaJSON bytes: UnsafeRawBufferPointer) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let topics = object["topics"] as? [String: Any] else { return nil }
        func number(_ value: Any?) -> Int64? {
            guard let n = value as? NSNumber else { return nil }
            let v = n.int64Value
            return v < 0 ? nil : v
        }
        var partitions: [KafkaTopicPartition: KafkaPartitionStatistics] = [:]
        for (topic, topicValue) in topics {
            guard let parts = (topicValue as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (key, value) in parts {
                guard let id = Int32(key), id >= 0, let p = value as? [String: Any] else { continue }
                let fetching = (p["fetch_state"] as? String).map { $0 != "none" } ?? false
                guard fetching || (p["desired"] as? Bool) == true else { continue }
                let high = number(p["hi_offset"]), position = number(p["app_offset"])
                // librdkafka's consumer_lag counts from the committed offset; what operators need is how far the
                // application's position is behind, so prefer that when both ends are known.
                let lag = high.flatMap { h in position.map { max(0, h - $0) } } ?? number(p["consumer_lag"])
                partitions[KafkaTopicPartition(topic, id)] = KafkaPartitionStatistics(
                    highWatermark: high, position: position, committedOffset: number(p["committed_offset"]), lag: lag,
                    nextFetchOffset: number(p["next_offset"]))
            }
        }
        self.partitions = partitions
    }
}
