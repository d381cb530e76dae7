import Logging
import QAnchorKafka
import QAnchorStore

/// Starts each newly assigned partition at the offset the store holds for it (written in the same transaction as
/// the events it covers), or at the configured reset policy when the store has none — never at the group's
/// committed offset, which is advisory (a partition with no local state must be rebuilt from the log).
///
/// Threading: called on the consumer's poll thread; one short LMDB read per rebalance.
struct StoredOffsetsRebalanceHandler: KafkaRebalanceHandler {
    let store: EventStore
    let resetToEarliest: Bool
    let logger: Logger

    func startPositions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        let stored: [SourceOffset]
        do { stored = try store.storedOffsets() } catch {
            logger.error("cannot read stored offsets; starting from the reset policy", metadata: ["error": "\(error)"])
            stored = []
        }
        var byPartition: [KafkaTopicPartition: Int64] = [:]
        for offset in stored { byPartition[KafkaTopicPartition(offset.topic, offset.partition)] = offset.nextOffset }
        var out: [KafkaTopicPartition: KafkaOffset] = [:]
        for tp in partitions {
            out[tp] = byPartition[tp].map { .exactly($0) } ?? (resetToEarliest ? .beginning : .end)
        }
        return out
    }
}
