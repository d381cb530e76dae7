import CRdKafka
import Logging
import Synchronization

/// A Kafka producer: idempotent by default, records with key, headers and timestamp, delivery reports as
/// awaitable results, flush with a timeout, and back-pressure instead of drops when librdkafka's queue is full.
///
/// Threading model: a dedicated poll thread serves librdkafka's delivery reports and resumes the waiting `send`
/// calls; `send` itself never blocks a thread (it suspends when the queue is full until deliveries make room).
/// `flush` and `close` block on GCD threads, never on the cooperative pool. All methods may be called from any
/// thread or task, concurrently.
///
/// Lifecycle: create, `send` (any number of concurrent calls), `close()` (flushes, then stops the poll thread).
public final class KafkaProducer: Sendable {
    private let core: ProducerCore
    private let client: RDKafkaClient
    private let pollThread: RDKafkaPollThread

    public init(configuration: KafkaProducerConfiguration,
                logger: Logger = Logger(label: "qanchor.kafka.producer")) throws(KafkaError) {
        let core = ProducerCore(logger: logger)
        let client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties,
                                       sink: core, context: "create producer")
        self.core = core
        self.client = client
        self.pollThread = RDKafkaPollThread(name: "qanchor-kafka-producer", body: {
            rd_kafka_poll(client.kafka, 100)
            core.wakeWaitersForRoom()
        }, finally: {
            core.failAllPending(KafkaError(code: .destroyed, message: "producer closed before delivery",
                                           context: "close producer"))
        })
    }

    deinit { pollThread.stop() }

    /// Sends one record and returns when the broker acknowledged it (or it failed for good: after
    /// `messageTimeout`, a fatal error, or a rejected record). Suspends while librdkafka's queue is full.
    /// Cancelling the calling task does not recall the record.
    @discardableResult
    public func send(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        try await sendAll([record])[0].get()
    }

    /// Sends records in order (they enter librdkafka's queue in this order, so records of one partition are written
    /// in this order) and returns when every one is settled: its delivery report or its error, in the same order.
    /// Cheaper than one `send` per record (no task per record, one suspension). Suspends while librdkafka's queue is
    /// full.
    public func sendAll(_ records: [KafkaProducerRecord]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !records.isEmpty else { return [] }
        if let fatal = core.fatal { return records.map { _ in .failure(fatal) } }
        let batch = ProducerCore.Batch(count: records.count)
        var next = 0
        while next < records.count {
            next = core.produce(records, from: next, batch: batch, on: client.kafka)
            if next < records.count { await core.waitForRoom() }
        }
        return await batch.settled().map { outcome in
            switch outcome {
            case .delivered(let report): return .success(report)
            case .failed(let error): return .failure(error)
            case .queueFull: return .failure(KafkaError(code: .queueFull, message: "queue full", context: "send batch"))
            }
        }
    }

    /// Waits until every record sent so far is delivered or failed, at most `timeout`. Throws `.timedOut`
    /// (retriable) with the number still queued when the time is up — e.g. when the broker is unreachable.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let client = self.client
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            let err = rd_kafka_flush(client.kafka, Int32(clamping: timeout.milliseconds))
            if err.rawValue != 0 {
                let queued = rd_kafka_outq_len(client.kafka)
                throw KafkaError(err, context: "flush producer", message: "\(queued) records not delivered within \(timeout)")
            }
        }
    }

    /// Records waiting for delivery (including librdkafka's internal requests).
    public var queuedCount: Int { Int(rd_kafka_outq_len(client.kafka)) }

    /// Flushes (at most `timeout`), then stops the poll thread. Sends still waiting fail with `.destroyed`.
    public func close(timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let flushed: Result<Void, KafkaError>
        do { flushed = .success(try await flush(timeout: timeout)) } catch { flushed = .failure(error) }
        pollThread.stop()
        await pollThread.join()
        try flushed.get()
    }
}

/// The producer's pending sends and callback target.
///
/// Threading: `delivery` runs on whichever thread polls (the poll thread, or a flushing GCD thread); all state is
/// behind one mutex.
final class ProducerCore: RDKafkaEventSink, @unchecked Sendable {
    enum Outcome: Sendable {
        case delivered(KafkaDeliveryReport)
        case failed(KafkaError)
        case queueFull
    }

    /// The outcomes of a `sendAll`, filled by delivery reports; resumes its waiter when the last one arrived.
    final class Batch: Sendable {
        private struct Progress {
            var outcomes: [Outcome?]
            var left: Int
            var waiter: CheckedContinuation<[Outcome], Never>?
        }
        private let progress: Mutex<Progress>

        init(count: Int) {
            progress = Mutex(Progress(outcomes: Array(repeating: nil, count: count), left: count, waiter: nil))
        }

        func settle(_ index: Int, _ outcome: Outcome) {
            let done = progress.withLock { p -> (CheckedContinuation<[Outcome], Never>, [Outcome])? in
                guard p.outcomes[index] == nil else { return nil }
                p.outcomes[index] = outcome
                p.left -= 1
                guard p.left == 0, let waiter = p.waiter else { return nil }
                p.waiter = nil
                return (waiter, p.outcomes.map { $0 ?? .queueFull })
            }
            if let (waiter, all) = done { waiter.resume(returning: all) }
        }

        func settled() async -> [Outcome] {
            await withCheckedContinuation { continuation in
                let all = progress.withLock { p -> [Outcome]? in
                    if p.left == 0 { return p.outcomes.map { $0 ?? .queueFull } }
                    p.waiter = continuation
                    return nil
                }
                if let all { continuation.resume(returning: all) }
            }
        }
    }

    private struct State {
        var nextID: UInt = 1
        /// Records awaiting their delivery report: id → (their `sendAll` batch, index in it).
        var batched: [UInt: (Batch, Int)] = [:]
        var roomWaiters: [CheckedContinuation<Void, Never>] = []
        var fatal: KafkaError?
        var closed = false
    }

    private let state = Mutex(State())

    var fatal: KafkaError? { state.withLock { $0.fatal } }

    /// Produces `records[from...]` into `batch` until librdkafka's queue is full; returns the index of the first record
    /// not produced (`records.count` when all were). Records that fail at once are settled as failed.
    func produce(_ records: [KafkaProducerRecord], from start: Int, batch: Batch, on kafka: OpaquePointer) -> Int {
        var index = start
        while index < records.count {
            let record = records[index]
            let id: UInt? = state.withLock { s in
                if s.closed { return nil }
                let id = s.nextID
                s.nextID += 1
                s.batched[id] = (batch, index)
                return id
            }
            guard let id else {
                batch.settle(index, .failed(KafkaError(code: .destroyed, message: "producer is closed", context: "send to \(record.topic)")))
                index += 1
                continue
            }
            let err = RDKafkaProduce.produce(record, opaque: id, on: kafka)
            if err.rawValue != 0 {
                state.withLock { _ = $0.batched.removeValue(forKey: id) }
                if err.rawValue == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue { return index }
                batch.settle(index, .failed(KafkaError(err, context: "send to \(record.topic)")))
            }
            index += 1
        }
        return index
    }

    /// Suspends until the poll thread served deliveries (which makes room in the queue).
    func waitForRoom() async {
        await withCheckedContinuation { continuation in
            let closed = state.withLock { s -> Bool in
                if s.closed { return true }
                s.roomWaiters.append(continuation)
                return false
            }
            if closed { continuation.resume() }
        }
    }

    func wakeWaitersForRoom() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.roomWaiters.removeAll() }
            return s.roomWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func failAllPending(_ error: KafkaError) {
        let (batched, waiters) = state.withLock { s in
            s.closed = true
            defer { s.batched.removeAll(); s.roomWaiters.removeAll() }
            return (Array(s.batched.values), s.roomWaiters)
        }
        for (batch, index) in batched { batch.settle(index, .failed(error)) }
        for waiter in waiters { waiter.resume() }
    }

    override func delivery(_ message: UnsafePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let id = UInt(bitPattern: m._private)
        guard let (batch, index) = state.withLock({ $0.batched.removeValue(forKey: id) }) else { return }
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let outcome: Outcome
        if m.err.rawValue != 0 {
            outcome = .failed(KafkaError(m.err, context: "deliver to \(topic)[\(m.partition)]"))
        } else {
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(message, &timestampType)
            outcome = .delivered(KafkaDeliveryReport(
                topicPartition: KafkaTopicPartition(topic, m.partition), offset: m.offset >= 0 ? m.offset : nil,
                timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp))
        }
        batch.settle(index, outcome)
    }

    override func error(_ error: KafkaError) {
        super.error(error)
        if error.isFatal {
            state.withLock { $0.fatal = error }
        }
    }
}
