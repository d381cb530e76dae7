import Logging
import QAnchorKafka

/// The daemon's side of the consumer's rebalances (docs/kafka.md "Co-partitioned assignment"). The group subscribes
/// to the lead input topic only; partition *p* of every other input topic is a companion of lead partition *p*, so
/// one member always holds partition *p* of every modality — which the per-user state needs — while the group
/// rebalances incrementally (cooperative-sticky moves only the partitions that change owner).
///
/// Assignment: every input partition of *p* starts `.deferred` (paused), *p* becomes `restoring` in
/// `PartitionOwnership`, and the daemon is asked to restore *p* (from the changelog) and then start its inputs at
/// the offsets that restore established. Revocation: blocks until the work in flight on *p* has finished
/// (`PartitionOwnership.revoke`), so the next owner starts from a changelog that holds everything of this one.
///
/// Threading: called on the consumer's poll thread, inside the rebalance.
struct CoPartitionedRebalanceHandler: KafkaRebalanceHandler {
    let leadTopic: String
    let inputTopics: [String]
    let ownership: PartitionOwnership
    /// Receives (partition, epoch) for each partition number to restore.
    let restoreRequests: AsyncStream<(partition: Int32, epoch: UInt64)>.Continuation
    let logger: Logger

    func companions(of granted: KafkaTopicPartition) -> [KafkaTopicPartition] {
        guard granted.topic == leadTopic else { return [] }
        return inputTopics.filter { $0 != leadTopic }.map { KafkaTopicPartition($0, granted.partition) }
    }

    func startPositions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        var positions: [KafkaTopicPartition: KafkaOffset] = [:]
        for tp in partitions { positions[tp] = .deferred }
        for p in Set(partitions.map(\.partition)).sorted() {
            restoreRequests.yield((p, ownership.beginRestore(p)))
        }
        return positions
    }

    func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        let numbers = Set(partitions.map(\.partition))
        ownership.revoke(numbers) { stuck in
            logger.error("revocation did not wait for work in flight to finish",
                         metadata: ["partitions": "\(stuck.sorted())"])
        }
    }
}
