import CRdKafka
import Logging
import Synchronization

/// A Kafka consumer: group subscription (cooperative-sticky by default) or manual assignment, start positions
/// chosen by the application at assignment, per-partition pause/resume, explicit offset store and commit,
/// watermarks, offsets-for-times, and statistics.
///
/// Threading model: the consumer owns one poll thread that calls librdkafka and runs its callbacks (rebalance,
/// statistics); everything it learns reaches the application as `KafkaConsumerEvent`s through `events`, an
/// `AsyncSequence` meant for one reader. The poll thread never waits for the reader: when the reader falls more
/// than `pauseAbove` records behind, the consumer pauses its partitions and keeps polling (so group membership
/// and `max.poll.interval.ms` are never at risk), and resumes them below `resumeBelow`. Blocking librdkafka calls
/// (commit, committed, watermarks, offsets-for-times, close) run on GCD threads, never on the cooperative pool.
/// All methods may be called from any thread or task.
///
/// Lifecycle: create, `subscribe` or `assign`, read `events`, `close()` (leaves the group cleanly). Dropping the
/// last reference without `close()` also leaves the group, from the poll thread.
public final class KafkaConsumer: Sendable {
    /// The events of this consumer. Iterate it from one task.
    public let events: KafkaConsumerEvents
    private let core: ConsumerCore
    private let client: RDKafkaClient
    private let pollThread: RDKafkaPollThread

    /// Creates the consumer and starts its poll thread.
    /// - Parameter rebalanceHandler: chooses start positions for assigned partitions (default: committed offsets).
    public init(configuration: KafkaConsumerConfiguration, rebalanceHandler: (any KafkaRebalanceHandler)? = nil,
                logger: Logger = Logger(label: "qanchor.kafka.consumer")) throws(KafkaError) {
        let (stream, continuation) = AsyncStream<KafkaConsumerEvent>.makeStream()
        let core = ConsumerCore(configuration: configuration, handler: rebalanceHandler, logger: logger,
                                continuation: continuation)
        let client = try RDKafkaClient(kind: .consumer, properties: configuration.librdkafkaProperties,
                                       sink: core, context: "create consumer")
        core.attach(client)
        // Route the main queue (errors, statistics, rebalances) into the consumer queue we poll.
        rd_kafka_poll_set_consumer(client.kafka)
        self.core = core
        self.client = client
        self.events = KafkaConsumerEvents(stream: stream, core: core)
        self.pollThread = RDKafkaPollThread(name: "qanchor-kafka-consumer", body: { core.pollOnce() },
                                            finally: { core.closeFromPollThread(); withExtendedLifetime(client) {} })
    }

    deinit { pollThread.stop() }

    /// Joins the group (with `groupID`) for these topics. Assignments arrive as `.assigned` events.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(topics.map { KafkaTopicPartition($0, -1) })  // RD_KAFKA_PARTITION_UA
        let err = rd_kafka_subscribe(client.kafka, list.pointer)
        if err.rawValue != 0 { throw KafkaError(err, context: "subscribe to \(topics.joined(separator: ","))") }
    }

    /// Reads exactly these partitions from these positions, outside any group rebalancing (manual assignment).
    /// Replaces any previous manual assignment.
    public func assign(_ positions: [KafkaTopicPartition: KafkaOffset]) throws(KafkaError) {
        try core.assignManually(positions)
    }

    /// The partitions currently assigned.
    public func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(client.kafka, &list)
        guard err.rawValue == 0, let list else { throw KafkaError(err, context: "read assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList(borrowing: list).topicPartitions.sorted()
    }

    /// Stops fetching these partitions until `resume`. The consumer keeps its group membership.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try core.pauseByApplication(partitions)
    }

    /// Fetches these partitions again (unless flow control holds all partitions; then when it lets go).
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try core.resumeByApplication(partitions)
    }

    /// Records offsets (the next offset to read, i.e. last processed + 1) to be committed by `commit()`.
    public func storeOffsets(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        let err = rd_kafka_offsets_store(client.kafka, list.pointer)
        if err.rawValue != 0 { throw KafkaError(err, context: "store offsets") }
        if let error = list.firstError(context: "store offsets") { throw error }
    }

    /// Commits synchronously: the given offsets (next offset to read per partition), or everything stored with
    /// `storeOffsets` when nil. Returns when the group coordinator acknowledged.
    public func commit(_ offsets: [KafkaTopicPartition: Int64]? = nil) async throws(KafkaError) {
        let client = self.client
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            let list = offsets.map { RDKafkaTopicPartitionList($0) }
            let err = rd_kafka_commit(client.kafka, list?.pointer, 0)
            if err.rawValue == RD_KAFKA_RESP_ERR__NO_OFFSET.rawValue { return }  // nothing to commit
            if err.rawValue != 0 { throw KafkaError(err, context: "commit offsets") }
            if let error = list?.firstError(context: "commit offsets") { throw error }
        }
    }

    /// The group's committed offsets for these partitions (nil: none committed).
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10))
        async throws(KafkaError) -> [KafkaTopicPartition: Int64?] {
        let client = self.client
        return try await Self.offsetQuery(RDKafkaTopicPartitionList(partitions), context: "read committed offsets") { list in
            rd_kafka_committed(client.kafka, list, Int32(clamping: timeout.milliseconds))
        }
    }

    /// Asks the partition leader for the watermarks (ListOffsets). Some brokers (Tansu 0.6) answer the high
    /// watermark wrongly here; `fetchedWatermarks` reports the value from fetch responses instead.
    public func queryWatermarks(_ partition: KafkaTopicPartition, timeout: Duration = .seconds(10))
        async throws(KafkaError) -> KafkaWatermarks {
        let client = self.client
        return try await RDKafkaBlocking.run { () throws(KafkaError) -> KafkaWatermarks in
            var low: Int64 = -1, high: Int64 = -1
            let err = rd_kafka_query_watermark_offsets(client.kafka, partition.topic, partition.partition, &low, &high,
                                                       Int32(clamping: timeout.milliseconds))
            if err.rawValue != 0 { throw KafkaError(err, context: "query watermarks of \(partition)") }
            return KafkaWatermarks(low: low, high: high)
        }
    }

    /// The watermarks from the last fetch response for an assigned partition (nil before the first fetch).
    public func fetchedWatermarks(_ partition: KafkaTopicPartition) -> KafkaWatermarks? {
        var low: Int64 = -1, high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(client.kafka, partition.topic, partition.partition, &low, &high)
        guard err.rawValue == 0, high >= 0 else { return nil }
        return KafkaWatermarks(low: low, high: high)
    }

    /// For each partition, the earliest offset whose timestamp is ≥ the given time (ms since the epoch);
    /// nil when no such record exists yet.
    public func offsets(forTimes times: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(10))
        async throws(KafkaError) -> [KafkaTopicPartition: Int64?] {
        let client = self.client
        return try await Self.offsetQuery(RDKafkaTopicPartitionList(times), context: "offsets for times") { list in
            rd_kafka_offsets_for_times(client.kafka, list, Int32(clamping: timeout.milliseconds))
        }
    }

    /// Runs a blocking per-partition offset query off the cooperative pool; negative offsets mean "none".
    private static func offsetQuery(
        _ list: sending RDKafkaTopicPartitionList, context: String,
        _ call: @escaping @Sendable (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t
    ) async throws(KafkaError) -> [KafkaTopicPartition: Int64?] {
        nonisolated(unsafe) let list = list
        return try await RDKafkaBlocking.run { () throws(KafkaError) -> [KafkaTopicPartition: Int64?] in
            let err = call(list.pointer)
            if err.rawValue != 0 { throw KafkaError(err, context: context) }
            if let error = list.firstError(context: context) { throw error }
            return list.elements.reduce(into: [:]) { $0[$1.topicPartition] = $1.offset >= 0 ? $1.offset : nil }
        }
    }

    /// Records handed to `events` since the consumer started (monotonic). An application that counts the records
    /// it took knows nothing is in transit when its count equals this one.
    public var recordsHandedOver: Int { core.flow.withLock { $0.handedOver } }

    /// Messages and events librdkafka fetched or raised and the poll thread has not taken yet.
    public var queuedInClient: Int {
        guard let queue = rd_kafka_queue_get_consumer(client.kafka) else { return 0 }
        defer { rd_kafka_queue_destroy(queue) }
        return Int(rd_kafka_queue_length(queue))
    }

    /// The latest statistics (nil until the first `statistics.interval.ms` elapsed, or when disabled).
    public var latestStatistics: KafkaConsumerStatistics? { core.latestStatistics }

    /// Starts partitions assigned with `.deferred` (or any assigned, paused partitions) at these positions: seeks
    /// them and resumes fetching. `.firstAtOrAfter` is resolved with the broker first (`.end` when no record is
    /// that new, `.beginning` when the lookup fails). Partitions no longer assigned are skipped; the caller must
    /// make sure a partition revoked and assigned again meanwhile is not started with a stale position.
    public func start(_ positions: [KafkaTopicPartition: KafkaOffset], timeout: Duration = .seconds(10))
        async throws(KafkaError) {
        var resolved = positions
        let byTime = positions.compactMapValues { offset -> Int64? in
            if case .firstAtOrAfter(let timestampMs) = offset { return timestampMs } else { return nil }
        }
        if !byTime.isEmpty {
            do {
                for (tp, offset) in try await offsets(forTimes: byTime, timeout: timeout) {
                    resolved[tp] = offset.map { .exactly($0) } ?? .end
                }
            } catch {
                for tp in byTime.keys { resolved[tp] = .beginning }
            }
        }
        let partitions = core.currentlyAssigned(resolved.keys.sorted())
        guard !partitions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(capacity: partitions.count)
        for tp in partitions { list.add(tp, offset: (resolved[tp] ?? .committed).raw) }
        let client = self.client
        nonisolated(unsafe) let seekList = list
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            if let error = rd_kafka_seek_partitions(client.kafka, seekList.pointer, Int32(clamping: timeout.milliseconds)) {
                defer { rd_kafka_error_destroy(error) }
                throw KafkaError(code: .init(rawValue: rd_kafka_error_code(error).rawValue),
                                 message: String(cString: rd_kafka_error_string(error)), context: "seek partitions")
            }
        }
        // A partition revoked meanwhile reports an error here; only the ones still assigned are resumed.
        try core.resumeByApplication(core.currentlyAssigned(partitions))
    }

    /// Leaves the group (final revocation delivered as an event), stops the poll thread and ends `events`.
    ///
    /// `leavingGroup`: leave for good, also as a static member (`group.instance.id`), whose plain close keeps its
    /// partitions until the session times out — for a scale-down, not for a restart.
    public func close(leavingGroup: Bool = false) async {
        if leavingGroup { core.leaveGroupOnClose.store(true, ordering: .releasing) }
        pollThread.stop()
        await pollThread.join()
    }
}

/// The events of a `KafkaConsumer` as an `AsyncSequence`. Taking a `.records` batch from it is what tells flow
/// control that the application has caught up.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    let stream: AsyncStream<KafkaConsumerEvent>
    let core: ConsumerCore

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<KafkaConsumerEvent>.AsyncIterator
        let core: ConsumerCore

        public mutating func next() async -> KafkaConsumerEvent? {
            let event = await base.next()
            if case .records(let records)? = event { core.delivered(records.count) }
            return event
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), core: core)
    }
}

extension KafkaConsumer {
    /// Records handed to `events` and not yet taken (flow control's view); for tests and metrics.
    var backlogForTesting: Int { core.flow.withLock { $0.backlog } }
}
