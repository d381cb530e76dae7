import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// Refreshes dirty users (docs/daemon.md "The refresh"): for each dirty user of the owned partitions, select the
/// model's inputs from the stored vectors (no text is re-encoded); if they equal the inputs of the user's last
/// published refresh (same digest, same bundle fingerprint) just clear the mark; otherwise build the prefix, prefill
/// once (the shared preamble reused), run every scenario suffix in one batch, publish one record per scenario and
/// mark the user clean only after the broker acknowledged all of its records — and only if nothing dirtied it
/// meanwhile (the store compares generations). A user with no events left in the window gets tombstones (null
/// values) so compacted topics drop it.
///
/// With a changelog, a page's publication and commit happen under a lease on its partitions
/// (`PartitionOwnership`): the refresh records (version, input digest, outputs) go to the changelog before the
/// store, so the user's next owner continues its versions.
///
/// Threading: one refresh runs at a time (the daemon serialises them); model work runs on the `ModelExecutor`.
public final class Refresher: Sendable {
    let store: EventStore
    let executor: ModelExecutor
    let producer: KafkaProducer
    let topics: DaemonConfiguration.Topics
    let usersPerBatch: Int
    let encoder: any OutputEncoder
    /// The encoding event vectors are rounded to (part of the input digest).
    let vectorEncoding: VectorEncoding
    let ownership: PartitionOwnership?
    let changelog: ChangelogWriter?
    /// Where refreshed prefix states go when the query cache's policy wants them (docs/query.md).
    let queries: QueryService?
    /// The scenarios published (the bundle's and `scenarios.extra`) and the serving fingerprint refresh records carry.
    let serving: ServingScenarios
    let metrics: DaemonMetrics
    let logger: Logger

    init(store: EventStore, executor: ModelExecutor, producer: KafkaProducer, topics: DaemonConfiguration.Topics,
         usersPerBatch: Int, encoder: any OutputEncoder = JSONOutputEncoder(), vectorEncoding: VectorEncoding,
         ownership: PartitionOwnership?, changelog: ChangelogWriter?, queries: QueryService? = nil,
         serving: ServingScenarios, metrics: DaemonMetrics, logger: Logger) {
        self.store = store
        self.executor = executor
        self.producer = producer
        self.topics = topics
        self.usersPerBatch = usersPerBatch
        self.encoder = encoder
        self.vectorEncoding = vectorEncoding
        self.ownership = ownership
        self.changelog = changelog
        self.queries = queries
        self.serving = serving
        self.metrics = metrics
        self.logger = logger
    }

    /// What one refresh did.
    public struct Summary: Sendable, Equatable {
        public var published = 0
        public var emptied = 0
        /// Dirty users whose inputs equal their last published refresh: cleared without publishing.
        public var unchanged = 0
        public var failed = 0
        public var stillDirty = 0
        public var records = 0
    }

    /// Refreshes every user dirty at the time it is reached, in the given partitions. `shouldStop` is checked
    /// between batches (a running batch always completes).
    /// `partitions` is asked before every page: users of partitions this instance no longer owns are skipped.
    public func refresh(partitions: @Sendable () -> Set<Int32>, nowMs: @Sendable () -> Int64,
                        shouldStop: @Sendable () -> Bool) async throws -> Summary {
        var summary = Summary()
        guard !partitions().isEmpty else { return summary }
        metrics.refreshRunning.set(Double(1))
        metrics.refreshProgress.set(Double(0))
        defer { metrics.refreshRunning.set(Double(0)) }
        var cursor: UserKey?
        while !shouldStop() {
            let owned = partitions()
            if owned.isEmpty { break }
            let page = try store.dirtyUsers(after: cursor, limit: usersPerBatch, partitions: owned)
            guard let last = page.last else { break }
            cursor = last.user
            try await refreshPage(page, nowMs: nowMs(), summary: &summary)
            metrics.refreshProgress.set(Double(summary.published + summary.emptied + summary.unchanged))
        }
        metrics.refreshLastCompleted.set(Double(nowMs()) / 1000)
        return summary
    }

    /// Clears the dirty marks of the users of `partitions` whose inputs equal their last published refresh (after
    /// a restore: the previous owner's refresh records came with the state). Reads no vectors. Returns how many.
    func settleUnchanged(partitions: Set<Int32>, nowMs: Int64) async throws -> Int {
        let model = executor.model
        let windowStart = nowMs - Int64(model.manifest.windowDays) * 86_400_000
        var cursor: UserKey?
        var settled = 0
        while true {
            let page = try store.dirtyUsers(after: cursor, limit: 1000, partitions: partitions)
            guard let last = page.last else { return settled }
            cursor = last.user
            let unchanged = try page.filter { dirty in
                guard let state = try store.userState(dirty.user, withVectors: false) else { return false }
                return ModelInputs(state, manifest: model.manifest, windowStartMs: windowStart, vectorEncoding: vectorEncoding)
                    .isUnchanged(since: state.refresh, fingerprint: serving.fingerprint)
            }
            settled += try await store.markClean(unchanged)
        }
    }

    /// A user's refresh, computed and ready to publish.
    private struct Prepared: Sendable {
        var dirty: DirtyUser
        var record: RefreshRecord
        /// scenario → JSON (what the store keeps and lookups serve).
        var outputs: [String: [UInt8]]
        var producerRecords: [KafkaProducerRecord]
        var emptied: Bool
        /// The fp16 prefix state, when the query cache wants it.
        var prefixState: [UInt8]? = nil
    }

    private func refreshPage(_ page: [DirtyUser], nowMs: Int64, summary: inout Summary) async throws {
        let model = executor.model
        let windowStart = nowMs - Int64(model.manifest.windowDays) * 86_400_000
        // The assignments the states are read under: a partition revoked and restored again meanwhile is skipped.
        let epochs = ownership?.activeEpochs(Set(page.map(\.user.partition)))
        var unchanged: [DirtyUser] = []
        var prepared: [Prepared] = []
        for dirty in page {
            guard let state = try store.userState(dirty.user) else { continue }
            let inputs = ModelInputs(state, manifest: model.manifest, windowStartMs: windowStart, vectorEncoding: vectorEncoding)
            if inputs.isUnchanged(since: state.refresh, fingerprint: serving.fingerprint) {
                unchanged.append(dirty)
                continue
            }
            let record = RefreshRecord(version: (state.refresh?.version ?? 0) + 1, fingerprint: serving.fingerprint,
                                       refreshedAtMs: nowMs, newestEventMs: inputs.newestEventMs ?? 0, inputDigest: inputs.digest)
            do {
                prepared.append(try await prepare(dirty, inputs: inputs, record: record, windowStartMs: windowStart))
            } catch {
                // One user's model failure must not stop the refresh (nor the daemon): it stays dirty.
                summary.failed += 1
                metrics.refreshedUsers("failed").increment()
                logger.error("embedding a user failed; the user stays dirty",
                             metadata: ["partition": "\(dirty.user.partition)", "error": "\(error)"])
            }
        }

        // Publication and commit only for partitions still owned, under a lease: a revocation waits for them.
        let lease = ownership?.lease(Set(page.map(\.user.partition)), epochs: epochs)
        defer { if let lease { ownership?.release(lease) } }
        if let lease {
            unchanged.removeAll { !lease.partitions.contains($0.user.partition) }
            prepared.removeAll { !lease.partitions.contains($0.dirty.user.partition) }
        }
        if !unchanged.isEmpty {
            let cleaned = try await store.markClean(unchanged)
            summary.unchanged += cleaned
            metrics.unchangedUsersSkipped.increment(by: Int64(cleaned))
        }
        guard !prepared.isEmpty else { return }
        guard let changelog else {
            let (completed, failed) = await publish(prepared, summary: &summary)
            let burnt = failed.map { ReservedVersion(user: $0.dirty.user, version: $0.record.version) }
            summary.stillDirty += try await store.commitRefresh(completed, reserved: burnt).stillDirty.count
            await cachePrefixStates(prepared, completed: completed)
            return
        }
        // With a changelog: reserve the versions first (the records may reach the topics even if this instance dies
        // before recording the refresh: the next owner must not reuse the version), publish, then record the refresh
        // (changelog, then store) — one session, so no other commit moves the stored position past the reservations
        // before the store knows the versions.
        let byPartition = { (items: [Prepared], entry: (Prepared) -> ChangelogEntry) in
            Dictionary(grouping: items, by: \.dirty.user.partition).mapValues { $0.map(entry) }
        }
        let reservations = byPartition(prepared) { .versionReserved(user: $0.dirty.user.userID, version: $0.record.version) }
        var pageSummary = summary
        let (result, completed) = try await changelog.session { session in
            _ = try await session.write(reservations)
            let (completed, failed) = await publish(prepared, summary: &pageSummary)
            let finished = prepared.filter { item in completed.contains { $0.observed.user == item.dirty.user } }
            let positions = try await session.write(byPartition(finished) {
                .refresh(user: $0.dirty.user.userID, record: $0.record, outputs: $0.outputs)
            })
            let burnt = failed.map { ReservedVersion(user: $0.dirty.user, version: $0.record.version) }
            return (try await store.commitRefresh(completed, reserved: burnt, offsets: positions), completed)
        }
        summary = pageSummary
        summary.stillDirty += result.stillDirty.count
        await cachePrefixStates(prepared, completed: completed)
    }

    /// Hands the published users' prefix states to the query cache (best effort, after the commit).
    private func cachePrefixStates(_ prepared: [Prepared], completed: [CompletedRefresh]) async {
        guard let queries else { return }
        let done = Set(completed.map(\.observed.user))
        for item in prepared where done.contains(item.dirty.user) {
            if let bytes = item.prefixState {
                await queries.cache(bytes, digest: item.record.inputDigest, for: item.dirty.user, source: "refresh")
            }
        }
    }

    /// Runs the model for one user (or prepares tombstones for a user with nothing left in the window).
    private func prepare(_ dirty: DirtyUser, inputs: ModelInputs, record: RefreshRecord,
                         windowStartMs: Int64) async throws -> Prepared {
        let model = executor.model, manifest = model.manifest
        let headers = { (scenario: String, type: String) in
            [KafkaHeader("qanchor-scenario", scenario), KafkaHeader("qanchor-fingerprint", model.fingerprint),
             KafkaHeader("content-type", type)]
        }
        guard let newest = inputs.newestEventMs else {
            let records = serving.ids.map { id in
                KafkaProducerRecord(topic: topics.output(for: id), key: dirty.user.userID, value: nil,
                                    headers: headers(id, encoder.contentType))
            }
            return Prepared(dirty: dirty, record: record, outputs: [:], producerRecords: records, emptied: true)
        }
        let metrics = self.metrics, history = inputs.history, extra = serving.extra
        // A prefix state cached for exactly these inputs and this bundle (only the serving fingerprint changed:
        // an extra scenario was added) saves the prefill: only the suffixes run.
        let cached = queries?.cachedPrefixState(dirty.user, digest: inputs.digest)
        let keepState = cached == nil && (queries?.refreshShouldCache(dirty.user) ?? false)
        let (results, prefixState) = try await executor.run { model -> ([ScenarioEmbedding], [UInt8]?) in
            let began = ContinuousClock.now
            let prefix: UserPrefix
            if let cached, let state = try? DecoderState(serialized: Data(cached)) {
                prefix = UserPrefix(state: state)
                metrics.refreshPrefix("cached").increment()
            } else {
                prefix = try model.prefix(for: history)
                metrics.refreshPrefix("computed").increment()
                metrics.latency("prefill").record(ContinuousClock.now - began)
            }
            let prefilled = ContinuousClock.now
            let out = try model.embeddings(prefix, scenarios: nil, queries: extra)
            metrics.latency("suffixes").record(ContinuousClock.now - prefilled)
            return (out, keepState ? [UInt8](prefix.state.serialized(precision: .fp16)) : nil)
        }
        var outputs: [String: [UInt8]] = [:]
        var records: [KafkaProducerRecord] = []
        for result in results {
            let embedding = EmbeddingRecord(
                userID: dirty.user.userID, scenario: result.scenario, embedding: result.embedding, scores: result.scores,
                modelName: manifest.name, modelVersion: manifest.version, fingerprint: model.fingerprint,
                version: record.version, eventTimeMs: newest, windowStartMs: windowStartMs, computedAtMs: record.refreshedAtMs)
            outputs[result.scenario] = Array(embedding.json.utf8)
            records.append(KafkaProducerRecord(topic: topics.output(for: result.scenario), key: dirty.user.userID,
                                               value: encoder.encode(embedding), headers: headers(result.scenario, encoder.contentType),
                                               timestampMs: record.refreshedAtMs))
        }
        return Prepared(dirty: dirty, record: record, outputs: outputs, producerRecords: records, emptied: false,
                        prefixState: prefixState)
    }

    /// Publishes every prepared user's records at once; returns the users whose records were all acknowledged, and
    /// the others.
    private func publish(_ prepared: [Prepared], summary: inout Summary) async -> (completed: [CompletedRefresh], failed: [Prepared]) {
        let began = ContinuousClock.now
        // Every record of the page in one batch; a user counts as published only if all of its records were acked.
        let results = await producer.sendAll(prepared.flatMap(\.producerRecords))
        var acknowledged: [Int: Bool] = [:]
        var cursor = 0
        for (index, item) in prepared.enumerated() {
            let mine = results[cursor..<(cursor + item.producerRecords.count)]
            acknowledged[index] = mine.allSatisfy { if case .success = $0 { return true } else { return false } }
            cursor += item.producerRecords.count
        }
        if !prepared.isEmpty { metrics.latency("publish").record(ContinuousClock.now - began) }
        var completed: [CompletedRefresh] = []
        var failed: [Prepared] = []
        for (index, item) in prepared.enumerated() {
            guard acknowledged[index] == true else {
                failed.append(item)
                summary.failed += 1
                metrics.refreshedUsers("failed").increment()
                logger.warning("publishing a user's records failed; the user stays dirty",
                               metadata: ["partition": "\(item.dirty.user.partition)"])
                continue
            }
            for record in item.producerRecords {
                metrics.published(scenario: record.headers.string("qanchor-scenario") ?? "").increment()
            }
            summary.records += item.producerRecords.count
            if item.emptied { summary.emptied += 1 } else { summary.published += 1 }
            metrics.refreshedUsers(item.emptied ? "emptied" : "published").increment()
            completed.append(CompletedRefresh(observed: item.dirty, record: item.record, outputs: item.outputs))
        }
        return (completed, failed)
    }
}
