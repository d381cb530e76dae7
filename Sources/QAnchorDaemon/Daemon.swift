import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore
import ServiceLifecycle
import Synchronization

/// `qanchor serve`: the streaming daemon (docs/daemon.md, docs/architecture.md).
///
///     lead input topic (group, cooperative-sticky) + companions ─► KafkaConsumer ─► Ingestor ─► changelog ─► EventStore
///                                                                                                            │
///     schedule / POST /admin/refresh ─► Refresher ◄──────────────────────────────────────────────────────────┘
///                                          ─► ModelExecutor (prefill + suffixes) ─► KafkaProducer ─► output topics
///     assigned partition ─► ChangelogRestorer (no encoder) ─► inputs started ─► active
///
/// A `Service` (swift-service-lifecycle): `init` takes the store lock, loads the bundle, opens the store and creates
/// the Kafka clients; `run()` works until the service group's graceful shutdown (SIGTERM/SIGINT in `qanchor serve`)
/// or `shutdown()`: readiness fails, fetching stops, the in-flight batch and refresh page finish, revoked partitions
/// are released, the producer flushes, `run()` returns. Call `close()` afterwards (the HTTP server reads the store).
///
/// Threading: all public members may be called from any thread or task. Model work runs on its own thread, Kafka
/// polling on the clients' threads, store writes on the store's writer thread.
public final class Daemon: Service, Sendable {
    public let configuration: DaemonConfiguration
    public let metrics: DaemonMetrics
    let logger: Logger
    let executor: ModelExecutor
    public let store: EventStore
    /// Taken first in `init` (before the slow model load), handed to the store, held until the store closes: one
    /// qanchor writer process per store directory.
    let storeLock: StoreLock
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    /// The changelog's producer (nil without a changelog).
    let changelogProducer: KafkaProducer?
    let ingestor: Ingestor
    let refresher: Refresher
    /// Ad-hoc user queries, text embeddings and the prefix-state cache (docs/query.md).
    public let queries: QueryService
    /// The published scenarios (the bundle's and `scenarios.extra`) and the serving fingerprint.
    public let serving: ServingScenarios
    let inputTopics: [String]
    let schedule: RefreshSchedule
    let ownership: PartitionOwnership
    let routing: UserRouting
    let changelog: ChangelogWriter?
    let restorer: ChangelogRestorer?
    let directory: MemberDirectory
    /// systemd's notification socket when run with `Type=notify` (READY, STOPPING, WATCHDOG), else nil.
    let notifier = SystemdNotifier.fromEnvironment()
    let restoreRequests: AsyncStream<(partition: Int32, epoch: UInt64)>
    let restoreRequestsContinuation: AsyncStream<(partition: Int32, epoch: UInt64)>.Continuation

    struct State {
        var stopping = false
        /// Leave the consumer group for good when stopping (a scale-down; also for static members).
        var leaveGroup = false
        var refreshRequested = 0
        var refreshCompleted = 0
        var lastRefresh: Refresher.Summary?
        var ingestFailure: String?
        var finished = false
        /// systemd was told READY=1.
        var notifiedReady = false
        /// The consumer reported a fetch outside a partition's log (`offsetRangeLoop` checks with the broker).
        var offsetResetReported = false
        /// Records taken from the consumer (compare with `KafkaConsumer.recordsHandedOver`).
        var recordsReceived = 0
        /// A batch is between the consumer and its store commit.
        var ingesting = false
        /// Where each input partition was started after its restore: older records are stale (fetched under an
        /// earlier assignment) and skipped.
        var startedAt: [KafkaTopicPartition: Int64] = [:]
        /// Standby followers by partition number.
        var standbys: [Int32: Task<Void, Never>] = [:]
        /// Followers told to stop (cancelled), which a restore of the partition must still wait for.
        var stoppedStandbys: [Int32: Task<Void, Never>] = [:]
    }
    let state = Mutex(State())
    /// Notified on stop requests, refresh requests and refresh completions.
    let stopSignal = AsyncSignal()
    let refreshRequestSignal = AsyncSignal()
    let refreshDoneSignal = AsyncSignal()

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
        let serving = try ServingScenarios(model: model, configured: configuration.scenarios.extra)
        self.serving = serving
        let routes = try Self.routes(configuration, manifest: manifest, scenarios: serving.ids)
        inputTopics = manifest.modalities.map { configuration.topics.input(for: $0.name) }
        let parser = Self.parser(configuration, manifest: manifest)

        let storeConfiguration = Self.storeConfiguration(configuration, model: model)
        store = try EventStore(configuration: storeConfiguration, logger: logger, lock: storeLock)

        let client = Self.kafkaClient(configuration)
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        routing = UserRouting(partitioner: configuration.kafka.partitioner)
        let group = configuration.kafka.groupID
        let metrics = self.metrics
        if configuration.scaling.changelog {
            let topic = configuration.topics.changelog(group: group)
            // Its own producer, without linger: every ingest batch waits for its changelog acknowledgements, so the
            // records should leave at once (the outputs' producer batches for throughput instead).
            changelogProducer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client, linger: .zero),
                                                  logger: logger)
            changelog = ChangelogWriter(topic: topic, encoding: configuration.scaling.changelogVectorEncoding,
                                        producer: changelogProducer!, metrics: metrics, logger: logger)
            restorer = ChangelogRestorer(topic: topic, client: client, store: store, metrics: metrics, logger: logger)
        } else {
            changelogProducer = nil
            changelog = nil
            restorer = nil
        }
        let instanceID = configuration.scaling.instanceID ?? configuration.kafka.groupInstanceID
            ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let box = DaemonBox()
        directory = MemberDirectory(
            topic: configuration.topics.members(group: group), instanceID: instanceID,
            heartbeat: .milliseconds(configuration.scaling.heartbeatMs), client: client, producer: producer, logger: logger,
            describeSelf: { [routing] in
                guard let d = box.daemon else { return ([], [], [], routing.partitionCount) }
                return (d.ownership.active, d.ownership.restoring, Set(d.state.withLock { $0.standbys.keys }), routing.partitionCount)
            })
        let directory = self.directory
        ownership = PartitionOwnership(onChange: { directory.ownershipChanged() })

        (restoreRequests, restoreRequestsContinuation) = AsyncStream.makeStream(of: (partition: Int32, epoch: UInt64).self)
        let handler = CoPartitionedRebalanceHandler(leadTopic: inputTopics[0], inputTopics: inputTopics, ownership: ownership,
                                                    restoreRequests: restoreRequestsContinuation, logger: logger)
        consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: group, groupInstanceID: configuration.kafka.groupInstanceID,
            sessionTimeout: .milliseconds(configuration.kafka.sessionTimeoutMs),
            maxPollInterval: .milliseconds(configuration.kafka.maxPollIntervalMs),
            assignmentStrategy: configuration.kafka.assignmentStrategy.rawValue,
            // Every partition starts at an explicit position (stored, or per kafka.auto_offset_reset), so librdkafka's
            // own reset only fires for a position beyond the log: report it (kafka.on_offset_out_of_range decides).
            autoOffsetReset: .error,
            maxBatchSize: configuration.ingest.batchSize, pauseAbove: configuration.ingest.pauseAbove,
            resumeBelow: configuration.ingest.resumeBelow), rebalanceHandler: handler, logger: logger)

        ingestor = Ingestor(routes: routes, parser: parser, store: store, executor: executor, producer: producer,
                            deadLetterTopic: configuration.topics.deadLetter, ownership: ownership, changelog: changelog,
                            routing: routing, metrics: metrics, logger: logger)
        let vectorEncoding = changelog?.encoding ?? storeConfiguration.vectorEncoding
        queries = QueryService(store: store, executor: executor, limits: configuration.query, vectorEncoding: vectorEncoding,
                               metrics: metrics, logger: logger)
        refresher = Refresher(store: store, executor: executor, producer: producer, topics: configuration.topics,
                              usersPerBatch: configuration.refresh.usersPerBatch,
                              encoder: OutputFormats.encoder(configuration.output), vectorEncoding: vectorEncoding,
                              ownership: ownership, changelog: changelog, queries: queries, serving: serving,
                              metrics: metrics, logger: logger)
        self.instanceID = instanceID
        box.daemon = self
        metrics.buildInfo().set(Double(1))
        metrics.modelInfo(bundle: manifest.name, version: manifest.version, fingerprint: model.fingerprint,
                          precision: model.precision.rawValue).set(Double(1))
        logger.info("daemon ready to start", metadata: [
            "qanchor": "\(BuildInfo.version) \(BuildInfo.commit)",
            "model": "\(manifest.name) \(manifest.version)", "fingerprint": "\(model.fingerprint)",
            "store": "\(configuration.store.path)", "inputs": "\(inputTopics.joined(separator: ","))",
            "instance": "\(instanceID)", "changelog": "\(changelog?.topic ?? "off")", "librdkafka": "\(KafkaRuntime.version)",
        ])
    }

    /// The loaded model.
    public var model: QAnchorEmbedder { executor.model }

    /// This instance's name in the member directory.
    public let instanceID: String

    /// What runs here, as JSON (`GET /v1/info`): the build, the model, the instance and the partitions it owns.
    public var infoJSON: String {
        let m = model, manifest = m.manifest
        let owned = ownership.active.sorted().map(String.init).joined(separator: ",")
        let restoring = ownership.restoring.sorted().map(String.init).joined(separator: ",")
        return "{\"qanchor\":{\"version\":\(JSONText.string(BuildInfo.version)),\"commit\":\(JSONText.string(BuildInfo.commit)),"
            + "\"built\":\(JSONText.string(BuildInfo.date)),\"librdkafka\":\(JSONText.string(KafkaRuntime.version))},"
            + "\"model\":{\"name\":\(JSONText.string(manifest.name)),\"version\":\(JSONText.string(manifest.version)),"
            + "\"fingerprint\":\(JSONText.string(m.fingerprint)),\"precision\":\(JSONText.string(m.precision.rawValue)),"
            + "\"scenarios\":[\(manifest.scenarios.map { JSONText.string($0.id) }.joined(separator: ","))]},"
            + "\"extra_scenarios\":[\(serving.extra.compactMap(\.id).map(JSONText.string).joined(separator: ","))],"
            + "\"serving_fingerprint\":\(JSONText.string(serving.fingerprint)),"
            + "\"instance\":\(JSONText.string(instanceID)),\"group\":\(JSONText.string(configuration.kafka.groupID)),"
            + "\"partitions\":{\"owned\":[\(owned)],\"restoring\":[\(restoring)],\"total\":\(routing.partitionCount)}}"
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Pieces shared with `Replayer`

    /// Sets the OpenBLAS threads (always: the first call also makes its idle workers sleep instead of spinning) and
    /// loads the bundle in the configured precision.
    static func loadModel(_ configuration: DaemonConfiguration) throws -> QAnchorEmbedder {
        BLAS.setThreads(configuration.model.threads > 0 ? configuration.model.threads
                                                        : ProcessInfo.processInfo.activeProcessorCount)
        let precision = configuration.model.precision
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
        store.vectorEncoding = configuration.store.vectorEncoding
        // Vectors rounded to the changelog's float16 are stored as float16: lossless, half the bytes.
        if configuration.scaling.changelog && configuration.scaling.changelogVectorEncoding == .float16 { store.vectorEncoding = .float16 }
        store.prefixKVBudgetBytes = configuration.query.cacheBudgetBytes
        store.initialSizeBytes = configuration.store.mapSizeMB << 20
        store.environment.maximumMapSize = configuration.store.maxMapSizeMB << 20
        store.durability = configuration.store.durable ? .durable : .noMetaSync
        if configuration.store.commit == .journaled {
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
    static func routes(_ configuration: DaemonConfiguration, manifest: BundleManifest,
                       scenarios: [String]) throws -> [String: Ingestor.Route] {
        var routes: [String: Ingestor.Route] = [:]
        for (index, m) in manifest.modalities.enumerated() {
            routes[configuration.topics.input(for: m.name)] = Ingestor.Route(
                modality: index, name: m.name, kind: m.kind == .text ? .text : .tabular(featureCount: m.features ?? 0))
        }
        let inputs = manifest.modalities.map { configuration.topics.input(for: $0.name) }
        guard Set(inputs).count == inputs.count else {
            throw ConfigurationError(key: "topics.inputs", problem: "two modalities read the same topic: \(inputs)")
        }
        let group = configuration.kafka.groupID
        let outputs = [configuration.topics.deadLetter, configuration.topics.changelog(group: group),
                       configuration.topics.members(group: group)]
            + scenarios.map { configuration.topics.output(for: $0) }
        if let clash = outputs.first(where: { inputs.contains($0) }) {
            throw ConfigurationError(key: "topics", problem: "'\(clash)' is both an input and an output (or dead-letter, changelog, members) topic")
        }
        return routes
    }

    /// The input validator. Ids longer than the store's key limit (200 bytes) are rejected here, never at the store.
    static func parser(_ configuration: DaemonConfiguration, manifest: BundleManifest) -> EventParser {
        EventParser(windowDays: manifest.windowDays, skewMs: Int64(configuration.ingest.skewMs),
                    maxTextBytes: configuration.ingest.maxTextBytes, maxIDBytes: 200)
    }

    // MARK: Run

    /// Works until the graceful shutdown of its service group, or `shutdown()`. Throws when ingest fails for good
    /// (the store and Kafka then hold a consistent position: restarting resumes exactly where the last committed
    /// batch ended).
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await work()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    private func work() async throws {
        defer {
            state.withLock { $0.finished = true }
            refreshDoneSignal.notify()
        }
        do {
            try await ensureTopics()
            try consumer.subscribe([inputTopics[0]])
        } catch {
            logger.critical("cannot start consuming", metadata: ["error": "\(error)"])
            shutdown()
            await consumer.close()
            try? await producer.close(timeout: .seconds(5))
            try? await changelogProducer?.close(timeout: .seconds(5))
            throw error
        }
        let background = Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.expiryLoop() }
                group.addTask { await self.fingerprintLoop() }
                group.addTask { await self.directory.run() }
                group.addTask { await self.standbyLoop() }
                group.addTask { await self.watchdogLoop() }
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
            group.addTask { await self.restoreLoop(); return nil }
            group.addTask {
                do { try await self.offsetRangeLoop(); return nil } catch { return error }
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
        if state.withLock({ $0.leaveGroup }) { await directory.announce(leaving: true) }
        background.cancel()
        await background.value
        for task in state.withLock({ Array($0.standbys.values) + Array($0.stoppedStandbys.values) }) {
            task.cancel()
            await task.value
        }
        for client in [producer, changelogProducer].compactMap({ $0 }) {
            do { try await client.close(timeout: .seconds(10)) } catch {
                logger.warning("producer flush at shutdown incomplete", metadata: ["error": "\(error)"])
            }
        }
        logger.info("daemon stopped")
        if let failure { throw failure }
    }

    /// Closes the store. Call after `run()` returned and the HTTP server (which reads the store) stopped.
    public func close() {
        store.close()
    }

    /// Begins a graceful stop. Idempotent. `leavingGroup`: leave the consumer group for good, so the partitions
    /// move at once — also for a static member, which otherwise keeps them until its session times out (a
    /// scale-down; not for a restart).
    public func shutdown(leavingGroup: Bool = false) {
        notifier?.stopping()
        state.withLock {
            $0.stopping = true
            $0.leaveGroup = $0.leaveGroup || leavingGroup
        }
        stopSignal.notify()
        refreshRequestSignal.notify()
        refreshDoneSignal.notify()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    private func stopWhenAsked() async {
        while !isStopping { await stopSignal.wait() }
        metrics.ready.set(Double(0))
        let leave = state.withLock { $0.leaveGroup }
        logger.info("stopping: closing the consumer", metadata: ["leave_group": "\(leave)"])
        restoreRequestsContinuation.finish()
        await consumer.close(leavingGroup: leave)
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
                // Records fetched under an earlier assignment of their partition (before it was revoked, restored and
                // started again) are stale: the partition's state already covers them.
                let started = state.withLock { $0.startedAt }
                let fetched = records.count
                records.removeAll { $0.offset < (started[$0.topicPartition] ?? .max) }
                if records.count < fetched {
                    metrics.revokedRecordsSkipped.increment(by: Int64(fetched - records.count))
                }
                if records.isEmpty { continue }
                do {
                    let summary = try await ingestor.ingest(records, nowMs: Self.nowMs(), spaceWait: storeSpaceWait)
                    // Advisory commit for lag tooling; the store holds the authoritative offsets.
                    if !isStopping, !summary.offsets.isEmpty {
                        do { try await consumer.commit(summary.offsets) } catch {
                            logger.debug("advisory offset commit failed", metadata: ["error": "\(error)"])
                        }
                    }
                } catch {
                    state.withLock { $0.ingestFailure = "\(error)" }
                    throw error
                }
            case .assigned(let positions):
                logger.info("assigned", metadata: ["partitions": "\(positions.keys.map(\.description).sorted())"])
                // systemd: started once the model is loaded and the group gave this member its (possibly empty) share.
                if state.withLock({ s in defer { s.notifiedReady = true }; return !s.notifiedReady }) {
                    notifier?.ready(status: "consuming \(positions.count) partitions")
                }
            case .revoked(let partitions):
                state.withLock { s in for tp in partitions { s.startedAt[tp] = nil } }
                changelog?.discardTombstones(for: Set(partitions.map(\.partition)))
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
                if error.code == .autoOffsetReset {
                    logger.warning("input position outside the log; checking (kafka.on_offset_out_of_range)",
                                   metadata: ["error": "\(error)"])
                    state.withLock { $0.offsetResetReported = true }
                    continue
                }
                logger.debug("consumer error", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Creates the dead-letter, output, changelog and member topics when missing: outputs and the changelog with
    /// the input topics' partition count (compacted), the member directory with one partition (compacted). Checks
    /// that the inputs (and an existing changelog) are co-partitioned, and learns the partition count.
    private func ensureTopics() async throws {
        let admin = try KafkaAdminClient(configuration: Self.kafkaClient(configuration), logger: logger)
        defer { Task { await admin.close() } }
        let metadata = try await admin.metadata(topics: inputTopics)
        let counts = inputTopics.map { topic in Int32(metadata.topic(topic)?.partitions.count ?? 0) }
        guard let partitions = counts.first, partitions > 0 else {
            throw ConfigurationError(key: "topics.inputs", problem: "input topic '\(inputTopics[0])' does not exist (qanchor kafka create-topics)")
        }
        if let odd = zip(inputTopics, counts).first(where: { $0.1 != partitions }) {
            throw ConfigurationError(key: "topics.inputs", problem: "the input topics are not co-partitioned: '\(inputTopics[0])' has "
                                     + "\(partitions) partitions, '\(odd.0)' has \(odd.1)")
        }
        routing.partitionCount = partitions
        let group = configuration.kafka.groupID
        try await admin.createTopics(configuration.topics.specifications(
            modalities: [], scenarios: serving.ids, partitions: partitions, includeInputs: false, group: group,
            changelogEnabled: changelog != nil))
        if let changelog {
            let found = Int32(try await admin.metadata(topics: [changelog.topic]).topic(changelog.topic)?.partitions.count ?? 0)
            guard found == partitions else {
                throw ConfigurationError(key: "topics.changelog", problem: "'\(changelog.topic)' has \(found) partitions, the inputs \(partitions): "
                                         + "the changelog must be co-partitioned with them")
            }
        }
    }

    // MARK: Refresh

    /// Asks for a refresh now; returns its ticket (see `refreshCompleted(ticket:)`).
    @discardableResult
    public func requestRefresh() -> Int {
        let ticket = state.withLock { s in
            s.refreshRequested += 1
            return s.refreshRequested
        }
        refreshRequestSignal.notify()
        return ticket
    }

    /// The summary of the refresh that served `ticket`, once done.
    public func refreshCompleted(ticket: Int) -> Refresher.Summary? {
        state.withLock { s in s.refreshCompleted >= ticket ? s.lastRefresh : nil }
    }

    /// Waits until the refresh that serves `ticket` is done; nil if the daemon stops first.
    public func waitForRefresh(ticket: Int) async -> Refresher.Summary? {
        while true {
            if let summary = refreshCompleted(ticket: ticket) { return summary }
            if isStopping || Task.isCancelled { return nil }
            await refreshDoneSignal.wait(timeout: .seconds(1))
        }
    }

    private func refreshLoop() async throws {
        var nextDue = schedule.next(afterMs: Self.nowMs())
        while !isStopping {
            let (requested, completed) = state.withLock { ($0.refreshRequested, $0.refreshCompleted) }
            let now = Self.nowMs()
            guard requested > completed || now >= nextDue else {
                await refreshRequestSignal.wait(timeout: .milliseconds(max(1, nextDue - now)))
                continue
            }
            if now >= nextDue { nextDue = schedule.next(afterMs: now) }
            // Journaled store: make every acknowledged ingest visible to the refresh's reads (no-op otherwise).
            try await store.checkpoint()
            logger.info("refresh started", metadata: ["partitions": "\(ownership.active.sorted())"])
            let summary = try await refresher.refresh(partitions: { [ownership] in ownership.active },
                                                      nowMs: { Self.nowMs() }, shouldStop: { [self] in isStopping })
            state.withLock { s in
                s.refreshCompleted = requested
                s.lastRefresh = summary
            }
            refreshDoneSignal.notify()
            logger.info("refresh finished", metadata: [
                "published": "\(summary.published)", "emptied": "\(summary.emptied)", "unchanged": "\(summary.unchanged)",
                "failed": "\(summary.failed)", "still_dirty": "\(summary.stillDirty)", "records": "\(summary.records)",
            ])
        }
    }

    // MARK: Background

    /// `WATCHDOG=1` to systemd every half `WatchdogSec` while ingest works (a wedged or failed daemon stops pinging and
    /// systemd restarts it).
    private func watchdogLoop() async {
        guard let notifier, let interval = notifier.watchdogInterval else { return }
        while !Task.isCancelled, !isStopping {
            if isAlive { notifier.watchdog() }
            await stopSignal.wait(timeout: interval)
        }
    }

    private func expiryLoop() async {
        let interval = Duration.seconds(max(configuration.refresh.expiryIntervalSeconds, 1))
        while !Task.isCancelled, !isStopping {
            await sweepExpired()
            await stopSignal.wait(timeout: interval)
        }
    }

    /// Removes every event that left the window (in pages of `refresh.expiry_batch`), with its changelog tombstones.
    private func sweepExpired() async {
        do {
            var more = true
            while more, !isStopping {
                let result = try await store.sweepExpired(nowMs: Self.nowMs(), limit: configuration.refresh.expiryBatch)
                more = result.hasMore
                let owned = ownership.active
                changelog?.tombstones(for: result.removed.filter { owned.contains($0.user.partition) })
                if result.dirtiedUsers > 0 {
                    logger.debug("expired events", metadata: ["events": "\(result.removedEvents)", "users": "\(result.dirtiedUsers)"])
                }
            }
        } catch {
            logger.warning("expiry sweep failed", metadata: ["error": "\(error)"])
        }
    }

    /// A full store: ingest waits, sweeping expired events (their pages are reused), until it fits or the daemon stops.
    private var storeSpaceWait: StoreSpaceWait {
        StoreSpaceWait(freeSpace: { [self] in await sweepExpired() },
                       shouldStop: { [self] in isStopping },
                       pause: { [self] duration in await stopSignal.wait(timeout: duration) })
    }

    /// After a bundle change, marks every user refreshed with another fingerprint dirty, at a bounded rate.
    private func fingerprintLoop() async {
        let fingerprint = serving.fingerprint
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
                        await stopSignal.wait(timeout: .milliseconds(1000 * stale.count / perSecond))  // the rate limit
                    }
                }
            }
        } catch {
            logger.warning("re-dirtying users of an older model failed", metadata: ["error": "\(error)"])
        }
    }
}

/// Lets closures created in `Daemon.init` reach the daemon later (set once, at the end of `init`; weak: no cycle).
private final class DaemonBox: @unchecked Sendable {
    weak var daemon: Daemon?
}
