import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore
import Synchronization

/// `qanchor serve`: the streaming daemon (DESIGN §4–7).
///
///     input topics ─► KafkaConsumer ─► Ingestor ─► EventStore (LMDB: events, vectors, dirty set, offsets)
///                                                        │
///     schedule / POST /admin/refresh ─► Refresher ◄──────┘ ─► ModelExecutor (prefill + suffixes) ─► KafkaProducer
///                                                                                                  ─► output topics
/// Lifecycle: `init` loads the bundle, opens the store and creates the Kafka clients; `run()` works until
/// `shutdown()` (SIGTERM/SIGINT in `qanchor serve`): readiness fails, fetching stops, the in-flight batch and
/// refresh page finish, the producer flushes, the store closes, `run()` returns.
///
/// Threading: all public members may be called from any thread or task. Model work runs on its own thread, Kafka
/// polling on the clients' threads, store writes on the store's writer thread.
public final class Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let metrics: DaemonMetrics
    let logger: Logger
    let executor: ModelExecutor
    let store: EventStore
    /// Taken first in `init` (before the slow model load), handed to the store, held until the store closes: one
    /// qanchor writer process per store directory.
    let storeLock: StoreLock
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let ingestor: Ingestor
    let refresher: Refresher
    let inputTopics: [String]
    let schedule: RefreshSchedule

    struct State {
        var assigned: Set<KafkaTopicPartition> = []
        var stopping = false
        var refreshRequested = 0
        var refreshCompleted = 0
        var lastRefresh: Refresher.Summary?
        var ingestFailure: String?
        var finished = false
        /// Records taken from the consumer (compare with `KafkaConsumer.recordsHandedOver`).
        var recordsReceived = 0
        /// A batch is between the consumer and its store commit.
        var ingesting = false
    }
    let state = Mutex(State())

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        metrics = DaemonMetrics()
        // First, before the (slow) model load: refuse a store another qanchor process writes.
        storeLock = try StoreLock.exclusive(directory: URL(fileURLWithPath: configuration.store.path))
        let model = try Self.loadModel(configuration)
        executor = ModelExecutor(model: model)
        schedule = RefreshSchedule(configuration.refresh)
        let manifest = model.manifest
        let routes = try Self.routes(configuration, manifest: manifest)
        inputTopics = manifest.modalities.map { configuration.topics.input(for: $0.name) }
        let parser = Self.parser(configuration, manifest: manifest)

        let storeConfiguration = Self.storeConfiguration(configuration, model: model)
        store = try EventStore(configuration: storeConfiguration, logger: logger, lock: storeLock)

        let client = Self.kafkaClient(configuration)
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client),
                                     logger: logger)
        let handler = StoredOffsetsRebalanceHandler(store: store, resetToEarliest: configuration.kafka.autoOffsetReset == "earliest",
                                                    windowMs: Int64(manifest.windowDays) * 86_400_000,
                                                    checkpointFirst: configuration.store.commit == "journaled", logger: logger)
        consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: configuration.kafka.groupID, groupInstanceID: configuration.kafka.groupInstanceID,
            sessionTimeout: .milliseconds(configuration.kafka.sessionTimeoutMs),
            maxPollInterval: .milliseconds(configuration.kafka.maxPollIntervalMs),
            assignmentStrategy: configuration.kafka.assignmentStrategy,
            autoOffsetReset: configuration.kafka.autoOffsetReset == "earliest" ? .earliest : .latest,
            maxBatchSize: configuration.ingest.batchSize, pauseAbove: configuration.ingest.pauseAbove,
            resumeBelow: configuration.ingest.resumeBelow), rebalanceHandler: handler, logger: logger)

        ingestor = Ingestor(routes: routes, parser: parser, store: store, executor: executor, producer: producer,
                            deadLetterTopic: configuration.topics.deadLetter, metrics: metrics, logger: logger)
        refresher = Refresher(store: store, executor: executor, producer: producer, topics: configuration.topics,
                              usersPerBatch: configuration.refresh.usersPerBatch,
                              protobuf: configuration.output.format == "protobuf", metrics: metrics, logger: logger)
        logger.info("daemon ready to start", metadata: [
            "model": "\(manifest.name) \(manifest.version)", "fingerprint": "\(model.fingerprint)",
            "store": "\(configuration.store.path)", "inputs": "\(inputTopics.joined(separator: ","))",
            "librdkafka": "\(KafkaRuntime.version)",
        ])
    }

    /// The loaded model.
    public var model: QAnchorEmbedder { executor.model }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Pieces shared with `Replayer`

    /// Sets the OpenBLAS threads (always: the first call also makes its idle workers sleep instead of spinning) and
    /// loads the bundle in the configured precision.
    static func loadModel(_ configuration: DaemonConfiguration) throws -> QAnchorEmbedder {
        BLAS.setThreads(configuration.model.threads > 0 ? configuration.model.threads
                                                        : ProcessInfo.processInfo.activeProcessorCount)
        let precision = ComputePrecision(rawValue: configuration.model.precision) ?? .fp32
        return try QAnchorEmbedder(bundle: URL(fileURLWithPath: configuration.model.bundle), precision: precision)
    }

    /// The store's layout for this bundle: one modality per bundle modality (text: `K_m` events of the encoder's
    /// width; tabular: one snapshot of F features), the bundle's window, the configured encoding and sizes.
    static func storeConfiguration(_ configuration: DaemonConfiguration, model: QAnchorEmbedder) -> StoreConfiguration {
        let manifest = model.manifest
        var store = StoreConfiguration(
            directory: URL(fileURLWithPath: configuration.store.path),
            modalities: manifest.modalities.map { m in
                m.kind == .text
                    ? ModalitySchema(name: m.name, kind: .text, cap: m.maxEvents ?? 1, dimension: model.encoderWidth)
                    : ModalitySchema(name: m.name, kind: .tabular, cap: 1, dimension: m.features ?? 1)
            })
        store.windowMilliseconds = Int64(manifest.windowDays) * 86_400_000
        store.vectorEncoding = configuration.store.vectorEncoding == "float16" ? .float16 : .float32
        store.prefixKVBudgetBytes = configuration.store.prefixKVBudgetMB << 20
        store.environment.initialMapSize = configuration.store.mapSizeMB << 20
        store.environment.durability = configuration.store.durable ? .durable : .noMetaSync
        if configuration.store.commit == "journaled" {
            store.commitMode = .journaled(interval: .milliseconds(configuration.store.checkpointIntervalMs),
                                          maxEvents: configuration.store.checkpointEvents)
        }
        return store
    }

    /// The Kafka client settings every client of the daemon shares.
    static func kafkaClient(_ configuration: DaemonConfiguration) -> KafkaClientConfiguration {
        var client = KafkaClientConfiguration(bootstrapServers: configuration.kafka.bootstrapServers,
                                              clientID: configuration.kafka.clientID,
                                              properties: configuration.kafka.properties)
        if configuration.kafka.statisticsIntervalMs > 0 {
            client.statisticsInterval = .milliseconds(configuration.kafka.statisticsIntervalMs)
        }
        return client
    }

    /// Input topic → modality. Refuses two modalities on one topic and inputs that are also outputs.
    static func routes(_ configuration: DaemonConfiguration, manifest: BundleManifest) throws -> [String: Ingestor.Route] {
        var routes: [String: Ingestor.Route] = [:]
        for (index, m) in manifest.modalities.enumerated() {
            routes[configuration.topics.input(for: m.name)] = Ingestor.Route(
                modality: index, name: m.name, kind: m.kind == .text ? .text : .tabular(featureCount: m.features ?? 0))
        }
        let inputs = manifest.modalities.map { configuration.topics.input(for: $0.name) }
        guard Set(inputs).count == inputs.count else {
            throw ConfigurationError(key: "topics.inputs", problem: "two modalities read the same topic: \(inputs)")
        }
        let outputs = [configuration.topics.deadLetter] + manifest.scenarios.map { configuration.topics.output(for: $0.id) }
        if let clash = outputs.first(where: { inputs.contains($0) }) {
            throw ConfigurationError(key: "topics", problem: "'\(clash)' is both an input and an output (or dead-letter) topic")
        }
        return routes
    }

    /// The input validator. Ids longer than the store's key limit (200 bytes) are rejected here, never at the store.
    static func parser(_ configuration: DaemonConfiguration, manifest: BundleManifest) -> EventParser {
        EventParser(windowDays: manifest.windowDays, skewMs: Int64(configuration.ingest.skewMs),
                    maxTextBytes: configuration.ingest.maxTextBytes, maxIDBytes: 200)
    }

    // MARK: Run

    /// Works until `shutdown()`. Throws when ingest fails for good (the store and Kafka then hold a consistent
    /// position: restarting resumes exactly where the last committed batch ended).
    public func run() async throws {
        defer { state.withLock { $0.finished = true } }
        do {
            try await ensureOutputTopics()
            try consumer.subscribe(inputTopics)
        } catch {
            logger.critical("cannot start consuming", metadata: ["error": "\(error)"])
            shutdown()
            await consumer.close()
            try? await producer.close(timeout: .seconds(5))
            throw error
        }
        let background = Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.expiryLoop() }
                group.addTask { await self.fingerprintLoop() }
            }
        }
        var failure: (any Error)?
        await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do { try await self.ingestLoop(); return nil } catch { return error }
            }
            group.addTask {
                do { try await self.refreshLoop(); return nil } catch { return error }
            }
            group.addTask { await self.stopWhenAsked(); return nil }
            for await error in group {
                if let error, failure == nil {
                    failure = error
                    self.logger.error("stopping after a failure", metadata: ["error": "\(error)"])
                    self.shutdown()
                }
            }
        }
        background.cancel()
        await background.value
        do { try await producer.close(timeout: .seconds(10)) } catch {
            logger.warning("producer flush at shutdown incomplete", metadata: ["error": "\(error)"])
        }
        logger.info("daemon stopped")
        if let failure { throw failure }
    }

    /// Closes the store. Call after `run()` returned and the HTTP server (which reads the store) stopped.
    public func close() {
        store.close()
    }

    /// Begins a graceful stop. Idempotent.
    public func shutdown() {
        state.withLock { $0.stopping = true }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Returns once `run()` has finished (or the calling task is cancelled).
    public func stopped() async {
        while !state.withLock({ $0.finished }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
    }

    private func stopWhenAsked() async {
        while !isStopping { try? await Task.sleep(for: .milliseconds(50)) }
        metrics.ready.set(Double(0))
        logger.info("stopping: closing the consumer")
        await consumer.close()
    }

    // MARK: Ingest

    private func ingestLoop() async throws {
        for await event in consumer.events {
            switch event {
            case .records(var records):
                state.withLock {
                    $0.recordsReceived += records.count
                    $0.ingesting = true
                }
                defer { state.withLock { $0.ingesting = false } }
                // Records fetched before a revocation may still arrive: they belong to the partition's new owner
                // now (its state is rebuilt there from the log), so they are neither stored nor dead-lettered here.
                if let owned = try? Set(consumer.assignment()) {
                    let fetched = records.count
                    records.removeAll { !owned.contains($0.topicPartition) }
                    if records.count < fetched {
                        metrics.revokedRecordsSkipped.increment(by: Int64(fetched - records.count))
                        logger.debug("skipped records of revoked partitions", metadata: ["records": "\(fetched - records.count)"])
                    }
                    if records.isEmpty { continue }
                }
                do {
                    let summary = try await ingestor.ingest(records, nowMs: Self.nowMs())
                    // Advisory commit for lag tooling; the store holds the authoritative offsets.
                    if !isStopping {
                        do { try await consumer.commit(summary.offsets) } catch {
                            logger.debug("advisory offset commit failed", metadata: ["error": "\(error)"])
                        }
                    }
                } catch {
                    state.withLock { $0.ingestFailure = "\(error)" }
                    throw error
                }
            case .assigned(let positions):
                state.withLock { $0.assigned.formUnion(positions.keys) }
                logger.info("assigned", metadata: ["partitions": "\(positions.map { "\($0.key)@\($0.value)" }.sorted())"])
            case .revoked(let partitions):
                state.withLock { $0.assigned.subtract(partitions) }
                // No stale lag for partitions this instance no longer reads.
                for tp in partitions { metrics.consumerLag(topic: tp.topic, partition: tp.partition).set(Double(0)) }
            case .statistics(let statistics):
                for (tp, p) in statistics.partitions {
                    if let lag = p.lag { metrics.consumerLag(topic: tp.topic, partition: tp.partition).set(Double(lag)) }
                }
            case .endOfPartition:
                break
            case .error(let error):
                if error.isFatal { throw error }
                logger.debug("consumer error", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Creates the dead-letter and output topics when missing, with the input topics' partition count (outputs
    /// compacted, replication as configured).
    private func ensureOutputTopics() async throws {
        let admin = try KafkaAdminClient(configuration: KafkaClientConfiguration(
            bootstrapServers: configuration.kafka.bootstrapServers, clientID: configuration.kafka.clientID,
            properties: configuration.kafka.properties), logger: logger)
        defer { Task { await admin.close() } }
        let metadata = try await admin.metadata(topics: inputTopics)
        let partitions = Int32(metadata.topics.map(\.partitions.count).max() ?? 1)
        try await admin.createTopics(configuration.topics.specifications(
            modalities: [], scenarios: model.scenarioIDs, partitions: max(partitions, 1), includeInputs: false))
    }

    // MARK: Refresh

    /// Asks for a refresh now; returns its ticket (see `refreshCompleted(ticket:)`).
    @discardableResult
    public func requestRefresh() -> Int {
        state.withLock { s in
            s.refreshRequested += 1
            return s.refreshRequested
        }
    }

    /// The summary of the refresh that served `ticket`, once done.
    public func refreshCompleted(ticket: Int) -> Refresher.Summary? {
        state.withLock { s in s.refreshCompleted >= ticket ? s.lastRefresh : nil }
    }

    private func refreshLoop() async throws {
        var nextDue = schedule.next(afterMs: Self.nowMs())
        while !isStopping {
            let (requested, completed) = state.withLock { ($0.refreshRequested, $0.refreshCompleted) }
            let now = Self.nowMs()
            guard requested > completed || now >= nextDue else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            if now >= nextDue { nextDue = schedule.next(afterMs: now) }
            // Journaled store: make every acknowledged ingest visible to the refresh's reads (no-op otherwise).
            try await store.checkpoint()
            logger.info("refresh started", metadata: ["partitions": "\(ownedUserPartitions().sorted())"])
            let summary = try await refresher.refresh(partitions: { [self] in ownedUserPartitions() },
                                                      nowMs: { Self.nowMs() }, shouldStop: { [self] in isStopping })
            state.withLock { s in
                s.refreshCompleted = requested
                s.lastRefresh = summary
            }
            logger.info("refresh finished", metadata: [
                "published": "\(summary.published)", "emptied": "\(summary.emptied)", "failed": "\(summary.failed)",
                "still_dirty": "\(summary.stillDirty)", "records": "\(summary.records)",
            ])
        }
    }

    /// Partition numbers this instance owns for every input topic, read live from the consumer (not from the
    /// event stream, which may lag behind a revocation). Only those users are refreshed here.
    func ownedUserPartitions() -> Set<Int32> {
        guard let assignment = try? consumer.assignment() else { return [] }
        var topicsPerPartition: [Int32: Set<String>] = [:]
        for tp in assignment { topicsPerPartition[tp.partition, default: []].insert(tp.topic) }
        return Set(topicsPerPartition.filter { $0.value.count == inputTopics.count }.keys)
    }

    // MARK: Background

    private func expiryLoop() async {
        let interval = Duration.seconds(max(configuration.refresh.expiryIntervalSeconds, 1))
        while !Task.isCancelled, !isStopping {
            do {
                var more = true
                while more, !isStopping {
                    let result = try await store.sweepExpired(nowMs: Self.nowMs(), limit: configuration.refresh.expiryBatch)
                    more = result.hasMore
                    if result.dirtiedUsers > 0 {
                        logger.debug("expired events", metadata: ["events": "\(result.removedEvents)", "users": "\(result.dirtiedUsers)"])
                    }
                }
            } catch {
                logger.warning("expiry sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// After a bundle change, marks every user refreshed with another fingerprint dirty, at a bounded rate.
    private func fingerprintLoop() async {
        let fingerprint = model.fingerprint
        let perSecond = max(configuration.refresh.redirtyUsersPerSecond, 1)
        let page = min(perSecond, 500)
        do {
            for partition in try store.partitions() {
                var after: UserKey?
                while !Task.isCancelled, !isStopping {
                    let users = try store.users(inPartition: partition, after: after, limit: page)
                    guard let last = users.last else { break }
                    after = last
                    let stale = try users.filter { user in
                        guard let record = try store.refreshRecord(user) else { return false }
                        return record.fingerprint != fingerprint
                    }
                    if !stale.isEmpty {
                        _ = try await store.markDirty(stale, modalityMask: UInt64.max, nowMs: Self.nowMs())
                        try? await Task.sleep(for: .milliseconds(1000 * stale.count / perSecond))
                    }
                }
            }
        } catch {
            logger.warning("re-dirtying users of an older model failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Health

    /// Alive: the process runs (also while rebalancing or restoring).
    public var isAlive: Bool { state.withLock { $0.ingestFailure == nil } }

    /// Ready: partitions assigned and every one caught up — its stored offset reached the fetched high watermark,
    /// or, while no record is in transit or being ingested, the consumer's next fetch offset did (a partition that
    /// started at the end with `auto_offset_reset: latest`, or whose log ends in transaction markers).
    public func readiness() -> (ready: Bool, reason: String) {
        let answer = computeReadiness()
        metrics.ready.set(Double(answer.ready ? 1 : 0))
        return answer
    }

    private func computeReadiness() -> (ready: Bool, reason: String) {
        let (assigned, stopping, received, ingesting) = state.withLock {
            ($0.assigned, $0.stopping, $0.recordsReceived, $0.ingesting)
        }
        if stopping { return (false, "stopping") }
        // Read after our own counters: a batch handed over meanwhile makes the pipeline non-idle.
        let idle = !ingesting && consumer.recordsHandedOver == received && consumer.queuedInClient == 0
        let fetchPositions = idle ? consumer.latestStatistics?.partitions : nil
        if assigned.isEmpty { return (false, "no partitions assigned") }
        let stored: [KafkaTopicPartition: Int64]
        do {
            stored = Dictionary(try store.storedOffsets().map { (KafkaTopicPartition($0.topic, $0.partition), $0.nextOffset) },
                                uniquingKeysWith: max)
        } catch { return (false, "store: \(error)") }
        var behind = 0
        for tp in assigned {
            guard let marks = consumer.fetchedWatermarks(tp) else { return (false, "\(tp) not fetched yet") }
            var done = stored[tp] ?? 0
            if let next = fetchPositions?[tp]?.nextFetchOffset { done = max(done, next) }
            behind += Int(max(0, marks.high - done))
        }
        return behind == 0 ? (true, "ready") : (false, "\(behind) records behind")
    }

    /// The last published records of a user (raw JSON, by scenario), from the store.
    public func publishedRecords(userID: String) throws -> [String: [UInt8]]? {
        guard let user = try store.locateUser(userID) else { return nil }
        return try store.publishedOutputs(user)
    }

    /// Refreshes store gauges (called when metrics are scraped).
    func updateStoreGauges() {
        guard let statistics = try? store.statistics(includeCacheBytes: false) else { return }
        metrics.storeMapUsed.set(Double(statistics.mapUsedBytes))
        metrics.storeMapSize.set(Double(statistics.mapSizeBytes))
        metrics.dirtyUsers.set(Double(statistics.dirtyUsers))
    }
}
