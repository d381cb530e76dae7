/// What a `KafkaConsumer` tells the application, in the order it happened.
public enum KafkaConsumerEvent: Sendable {
    /// A batch of records (at most `maxBatchSize`), in offset order within each partition.
    case records([KafkaConsumerRecord])
    /// Partitions were added to this consumer's assignment, starting at these positions (as chosen by the
    /// `KafkaRebalanceHandler`, or `.committed`). Records of a partition never precede its `.assigned` event.
    case assigned([KafkaTopicPartition: KafkaOffset])
    /// Partitions were taken away. Every record of them delivered before this event was read while assigned.
    case revoked([KafkaTopicPartition])
    /// The consumer reached the end of a partition; `offset` is the next offset to be written.
    /// Only with `reportsEndOfPartition`.
    case endOfPartition(KafkaTopicPartition, offset: Int64)
    /// Periodic statistics (with `statisticsInterval`), reduced to what operators need.
    case statistics(KafkaConsumerStatistics)
    /// A client or partition error. The consumer keeps running unless `error.isFatal`.
    case error(KafkaError)
}

/// Decides where newly assigned partitions start, and hears about revocations — synchronously, inside the
/// rebalance (so a daemon can seek to offsets it keeps in its own store before any record is fetched).
///
/// Threading: called on the consumer's poll thread. Must return quickly (it delays the group's rebalance and
/// counts against `max.poll.interval.ms`); must not call back into the consumer's async API.
///
/// Companions: with `companions(of:)` a handler adds partitions the group does not manage to each granted one — e.g.
/// the same partition number of co-partitioned topics when the group subscribes to one lead topic — so a member
/// receives partition *p* of every topic together while the group rebalances only the lead topic (incrementally,
/// with cooperative-sticky). Companions are assigned and revoked with their granted partition.
public protocol KafkaRebalanceHandler: Sendable {
    /// Partitions assigned together with `granted` (never the granted partition itself). Default: none.
    func companions(of granted: KafkaTopicPartition) -> [KafkaTopicPartition]
    /// Where each partition starts (granted partitions and their companions). Partitions missing from the result
    /// start at `.committed`; `.deferred` ones stay paused until `KafkaConsumer.start`.
    func startPositions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset]
    /// These partitions (granted ones and their companions) are being taken away; when this returns, the consumer
    /// unassigns them and delivers no more of their records. May block briefly (e.g. until work in flight on them
    /// has finished): it runs on the poll thread, inside the rebalance.
    func partitionsRevoked(_ partitions: [KafkaTopicPartition])
}

extension KafkaRebalanceHandler {
    public func companions(of granted: KafkaTopicPartition) -> [KafkaTopicPartition] { [] }
    public func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {}
}

/// The low and high watermark of a partition: the first offset still in the log and the offset the next
/// record will get.
public struct KafkaWatermarks: Sendable, Hashable {
    public var low: Int64
    public var high: Int64
}

/// A consumer's statistics: per assigned partition, how far behind the high watermark it is.
public struct KafkaConsumerStatistics: Sendable, Hashable {
    /// Per partition the consumer is fetching.
    public var partitions: [KafkaTopicPartition: KafkaPartitionStatistics]
    /// Sum of the known lags.
    public var totalLag: Int64 { partitions.values.reduce(0) { $0 + max(0, $1.lag ?? 0) } }
}

/// One partition's position and lag as librdkafka last saw them.
public struct KafkaPartitionStatistics: Sendable, Hashable {
    /// High watermark from the last fetch response (nil if unknown).
    public var highWatermark: Int64?
    /// The next offset the application will receive (nil if unknown).
    public var position: Int64?
    /// The last committed offset (nil if none).
    public var committedOffset: Int64?
    /// `highWatermark - position`; librdkafka's committed-offset lag when the position is unknown; nil if neither.
    public var lag: Int64?
    /// The next offset librdkafka will fetch (nil if unknown). Unlike `position` it moves past transaction
    /// markers and is known before any record arrived (e.g. after starting at the end).
    public var nextFetchOffset: Int64? = nil
}
