import CRdKafka
import Logging
import Synchronization

/// The consumer's shared state and librdkafka callback target.
///
/// Threading: `pollOnce`, `rebalance`, `statistics` and `closeFromPollThread` run on the poll thread only (the
/// `pending*` fields are confined to it). Flow-control and pause bookkeeping live in `flow`, behind a mutex,
/// because the application pauses/resumes and takes records from other threads.
final class ConsumerCore: RDKafkaEventSink, @unchecked Sendable {
    struct Flow {
        /// Records handed to the stream and not yet taken by the reader.
        var backlog = 0
        /// Records handed to the stream since the start (monotonic).
        var handedOver = 0
        /// Whether flow control currently holds every assigned partition.
        var heldByFlowControl = false
        /// Partitions the application paused (kept paused when flow control lets go).
        var pausedByApplication: Set<KafkaTopicPartition> = []
        var assigned: Set<KafkaTopicPartition> = []
        var latestStatistics: KafkaConsumerStatistics?
    }

    let configuration: KafkaConsumerConfiguration
    let handler: (any KafkaRebalanceHandler)?
    let continuation: AsyncStream<KafkaConsumerEvent>.Continuation
    let flow = Mutex(Flow())
    /// The handle, set once by `attach` before any other use. Not retained: the `RDKafkaClient` retains this
    /// core (as its callback sink), and the consumer and its poll thread retain the client.
    private(set) var kafka: OpaquePointer!

    // Poll-thread confined.
    private var pendingRecords: [KafkaConsumerRecord] = []
    private var topicNames: [OpaquePointer: String] = [:]
    /// Companion partitions assigned with each granted partition (see `KafkaRebalanceHandler.companions`).
    private var companionsByGranted: [KafkaTopicPartition: [KafkaTopicPartition]] = [:]
    /// Set by `KafkaConsumer.close(leavingGroup: true)` before the poll thread stops.
    let leaveGroupOnClose = Atomic<Bool>(false)

    init(configuration: KafkaConsumerConfiguration, handler: (any KafkaRebalanceHandler)?, logger: Logger,
         continuation: AsyncStream<KafkaConsumerEvent>.Continuation) {
        self.configuration = configuration
        self.handler = handler
        self.continuation = continuation
        super.init(logger: logger)
    }

    func attach(_ client: RDKafkaClient) { kafka = client.kafka }

    var latestStatistics: KafkaConsumerStatistics? { flow.withLock { $0.latestStatistics } }

    // MARK: Poll thread

    /// One poll round: apply flow control, then gather up to `maxBatchSize` messages (waiting ≤ 100 ms for the
    /// first) and hand them to the stream.
    func pollOnce() {
        applyFlowControl()
        var message = rd_kafka_consumer_poll(kafka, 100)
        while let m = message {
            take(m)
            rd_kafka_message_destroy(m)
            if pendingRecords.count >= configuration.maxBatchSize { break }
            message = rd_kafka_consumer_poll(kafka, 0)
        }
        flushPendingRecords()
    }

    private func take(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let topic = topicName(m.rkt)
        let tp = KafkaTopicPartition(topic, m.partition)
        if m.err.rawValue == RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue {
            flushPendingRecords()
            continuation.yield(.endOfPartition(tp, offset: m.offset))
            return
        }
        if m.err.rawValue != 0 {
            let text = m.payload.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: m.len), as: UTF8.self) }
            flushPendingRecords()
            continuation.yield(.error(KafkaError(m.err, context: "consume \(tp)", message: text)))
            return
        }
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        pendingRecords.append(KafkaConsumerRecord(
            topicPartition: tp, offset: m.offset, key: key, value: value, headers: headers(of: message),
            timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp))
    }

    private func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(message, &headers).rawValue == 0, let headers else { return [] }
        var out: [KafkaHeader] = []
        var index = 0
        while true {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(headers, index, &name, &value, &size).rawValue == 0 else { break }
            out.append(KafkaHeader(name.map { String(cString: $0) } ?? "",
                                   value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
            index += 1
        }
        return out
    }

    private func topicName(_ topic: OpaquePointer?) -> String {
        guard let topic else { return "" }
        if let name = topicNames[topic] { return name }
        let name = String(cString: rd_kafka_topic_name(topic))
        topicNames[topic] = name
        return name
    }

    private func flushPendingRecords() {
        guard !pendingRecords.isEmpty else { return }
        let batch = pendingRecords
        pendingRecords.removeAll(keepingCapacity: true)
        flow.withLock {
            $0.backlog += batch.count
            $0.handedOver += batch.count
        }
        continuation.yield(.records(batch))
    }

    /// Pauses every assigned partition when the reader is too far behind, and resumes them when it caught up.
    private func applyFlowControl() {
        enum Action { case none, pause([KafkaTopicPartition]), resume([KafkaTopicPartition]) }
        let action: Action = flow.withLock { state in
            if !state.heldByFlowControl, state.backlog > configuration.pauseAbove {
                state.heldByFlowControl = true
                return .pause(Array(state.assigned))
            }
            if state.heldByFlowControl, state.backlog <= configuration.resumeBelow {
                state.heldByFlowControl = false
                return .resume(Array(state.assigned.subtracting(state.pausedByApplication)))
            }
            return .none
        }
        switch action {
        case .none: break
        case .pause(let partitions):
            logger.debug("flow control: pausing \(partitions.count) partitions")
            setPaused(partitions, paused: true)
        case .resume(let partitions):
            logger.debug("flow control: resuming \(partitions.count) partitions")
            setPaused(partitions, paused: false)
        }
    }

    @discardableResult
    private func setPaused(_ partitions: [KafkaTopicPartition], paused: Bool) -> KafkaError? {
        guard !partitions.isEmpty else { return nil }
        let list = RDKafkaTopicPartitionList(partitions)
        let err = paused ? rd_kafka_pause_partitions(kafka, list.pointer) : rd_kafka_resume_partitions(kafka, list.pointer)
        let context = paused ? "pause partitions" : "resume partitions"
        if err.rawValue != 0 { return KafkaError(err, context: context) }
        return list.firstError(context: context)
    }

    /// Runs after the last poll: leave the group (serving the final revocation here), end the stream.
    ///
    /// A static member (`group.instance.id`) does not leave its group when it closes (KIP-345: it is expected
    /// back), so its partitions stay unowned until the session times out. With `leaveGroupOnClose` it unsubscribes
    /// first — librdkafka then sends LeaveGroup, static member or not — and polls until that happened.
    func closeFromPollThread() {
        flushPendingRecords()
        if leaveGroupOnClose.load(ordering: .acquiring) {
            rd_kafka_unsubscribe(kafka)
            let deadline = ContinuousClock.now + .seconds(5)
            var emptySince: ContinuousClock.Instant?
            while ContinuousClock.now < deadline {
                if let m = rd_kafka_consumer_poll(kafka, 100) { rd_kafka_message_destroy(m) }  // dropped: we are closing
                if flow.withLock({ $0.assigned.isEmpty }) {
                    // The LeaveGroup request goes out once the revocation is done; give it a moment on the wire.
                    if let since = emptySince { if ContinuousClock.now - since > .milliseconds(500) { break } }
                    else { emptySince = ContinuousClock.now }
                }
            }
            pendingRecords.removeAll()
        }
        let err = rd_kafka_consumer_close(kafka)
        if err.rawValue != 0 {
            logger.warning("consumer close: \(KafkaError(err, context: "close consumer"))")
        }
        continuation.finish()
    }

    // MARK: Callbacks (poll thread)

    override func rebalance(_ kafka: OpaquePointer, _ err: rd_kafka_resp_err_t,
                            _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let list = RDKafkaTopicPartitionList(borrowing: partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(kafka)) == "COOPERATIVE"
        let tps = list.topicPartitions
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            // The granted partitions and their companions (partitions the group does not manage, assigned with them).
            var all = tps
            for tp in tps {
                let companions = (handler?.companions(of: tp) ?? []).filter { $0 != tp }
                companionsByGranted[tp] = companions
                all += companions
            }
            var chosen = handler?.startPositions(for: all) ?? [:]
            let byTime = chosen.compactMapValues { offset -> Int64? in
                if case .firstAtOrAfter(let timestampMs) = offset { return timestampMs } else { return nil }
            }
            if !byTime.isEmpty { chosen.merge(resolve(byTime)) { $1 } }
            var positions: [KafkaTopicPartition: KafkaOffset] = [:]
            let assignList = RDKafkaTopicPartitionList(capacity: all.count)
            for tp in all {
                let position = chosen[tp] ?? .committed
                positions[tp] = position
                assignList.add(tp, offset: position.raw)
            }
            let failure: KafkaError?
            if cooperative {
                failure = rd_kafka_incremental_assign(kafka, assignList.pointer).map { error in
                    defer { rd_kafka_error_destroy(error) }
                    return KafkaError(code: .init(rawValue: rd_kafka_error_code(error).rawValue),
                                      message: String(cString: rd_kafka_error_string(error)),
                                      context: "incremental assign", isFatal: rd_kafka_error_is_fatal(error) != 0,
                                      isRetriable: rd_kafka_error_is_retriable(error) != 0)
                }
            } else {
                let e = rd_kafka_assign(kafka, assignList.pointer)
                failure = e.rawValue == 0 ? nil : KafkaError(e, context: "assign")
            }
            if let failure {
                continuation.yield(.error(failure))
                return
            }
            let deferred = all.filter { positions[$0] == .deferred }
            let toPause = flow.withLock { state -> [KafkaTopicPartition] in
                if !cooperative { state.assigned = [] }
                state.assigned.formUnion(all)
                state.pausedByApplication.formUnion(deferred)
                return state.heldByFlowControl ? all : all.filter { state.pausedByApplication.contains($0) }
            }
            if let error = setPaused(toPause, paused: true) { continuation.yield(.error(error)) }
            logger.info("partitions assigned", metadata: [
                "partitions": "\(tps.sorted())", "companions": "\(all.count - tps.count)", "cooperative": "\(cooperative)",
            ])
            flushPendingRecords()
            continuation.yield(.assigned(positions))

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            flushPendingRecords()
            let all = cooperative
                ? tps + tps.flatMap { companionsByGranted.removeValue(forKey: $0) ?? [] }
                : Array(flow.withLock { $0.assigned })
            if !cooperative { companionsByGranted = [:] }
            handler?.partitionsRevoked(all)
            if cooperative {
                let unassignList = RDKafkaTopicPartitionList(all)
                if let error = rd_kafka_incremental_unassign(kafka, unassignList.pointer) {
                    continuation.yield(.error(KafkaError(code: .init(rawValue: rd_kafka_error_code(error).rawValue),
                                                         message: String(cString: rd_kafka_error_string(error)),
                                                         context: "incremental unassign")))
                    rd_kafka_error_destroy(error)
                }
            } else {
                rd_kafka_assign(kafka, nil)
            }
            flow.withLock { state in
                state.assigned.subtract(all)
                state.pausedByApplication.subtract(all)
            }
            logger.info("partitions revoked", metadata: ["partitions": "\(tps.sorted())", "companions": "\(all.count - tps.count)"])
            continuation.yield(.revoked(all))

        default:
            // An error instead of an assignment: drop what we hold, the protocol's way.
            if cooperative {
                if let error = rd_kafka_incremental_unassign(kafka, partitions) { rd_kafka_error_destroy(error) }
            } else {
                rd_kafka_assign(kafka, nil)
            }
            let all = Array(flow.withLock { $0.assigned })
            companionsByGranted = [:]
            handler?.partitionsRevoked(all)
            flow.withLock { $0.assigned = [] }
            if !all.isEmpty { continuation.yield(.revoked(all)) }
            continuation.yield(.error(KafkaError(err, context: "rebalance")))
        }
    }

    override func statistics(_ json: UnsafeBufferPointer<CChar>) {
        guard let stats = KafkaConsumerStatistics(librdkafkaJSON: UnsafeRawBufferPointer(json)) else {
            logger.debug("unparseable statistics JSON")
            return
        }
        flow.withLock { $0.latestStatistics = stats }
        continuation.yield(.statistics(stats))
    }

    override func error(_ error: KafkaError) {
        super.error(error)
        continuation.yield(.error(error))
    }

    /// Looks up the first offset at or after each time (a blocking broker request on the poll thread, at most
    /// 10 s, inside the rebalance). No such record: `.end`; a failed lookup: `.beginning` (logged).
    private func resolve(_ times: [KafkaTopicPartition: Int64]) -> [KafkaTopicPartition: KafkaOffset] {
        let list = RDKafkaTopicPartitionList(times)
        let err = rd_kafka_offsets_for_times(kafka, list.pointer, 10_000)
        var out: [KafkaTopicPartition: KafkaOffset] = [:]
        if err.rawValue != 0 {
            logger.warning("offsets for times failed; starting at the beginning",
                           metadata: ["error": "\(KafkaError(err, context: "offsets for times"))"])
            for tp in times.keys { out[tp] = .beginning }
            return out
        }
        for element in list.elements {
            if element.error.rawValue != 0 {
                logger.warning("offset for time failed; starting at the beginning", metadata: [
                    "partition": "\(element.topicPartition)",
                    "error": "\(KafkaError(element.error, context: "offsets for times"))"])
                out[element.topicPartition] = .beginning
            } else {
                out[element.topicPartition] = element.offset >= 0 ? .exactly(element.offset) : .end
            }
        }
        return out
    }

    // MARK: Application calls (any thread)

    /// Called by the events iterator when the reader took a batch.
    func delivered(_ count: Int) {
        flow.withLock { $0.backlog -= count }
    }

    func assignManually(_ positions: [KafkaTopicPartition: KafkaOffset]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(positions.mapValues(\.raw))
        let err = rd_kafka_assign(kafka, list.pointer)
        if err.rawValue != 0 { throw KafkaError(err, context: "assign partitions") }
        let hold = flow.withLock { state -> Bool in
            state.assigned = Set(positions.keys)
            state.pausedByApplication.formIntersection(state.assigned)
            return state.heldByFlowControl
        }
        if hold, let error = setPaused(Array(positions.keys), paused: true) { throw error }
    }

    /// The subset of `partitions` currently assigned.
    func currentlyAssigned(_ partitions: some Sequence<KafkaTopicPartition>) -> [KafkaTopicPartition] {
        flow.withLock { state in partitions.filter { state.assigned.contains($0) } }
    }

    func pauseByApplication(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        flow.withLock { $0.pausedByApplication.formUnion(partitions) }
        if let error = setPaused(partitions, paused: true) { throw error }
    }

    func resumeByApplication(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let held = flow.withLock { state -> Bool in
            state.pausedByApplication.subtract(partitions)
            return state.heldByFlowControl
        }
        if !held, let error = setPaused(partitions, paused: false) { throw error }
    }
}
