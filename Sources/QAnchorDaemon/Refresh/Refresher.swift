import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// Refreshes dirty users (DESIGN §6): for each dirty user of the assigned partitions, rebuild its history from
/// stored vectors (no text is re-encoded), build the prefix, prefill once (the shared preamble reused), run every
/// scenario suffix in one batch, publish one record per scenario, and mark the user clean only after the broker
/// acknowledged all of its records — and only if nothing dirtied it meanwhile (the store compares generations).
/// A user with no events left in the window gets tombstones (null values) so compacted topics drop it.
///
/// Threading: one refresh runs at a time (the daemon serialises them); model work runs on the `ModelExecutor`.
public final class Refresher: Sendable {
    let store: EventStore
    let executor: ModelExecutor
    let producer: KafkaProducer
    let topics: DaemonConfiguration.Topics
    let usersPerBatch: Int
    /// Publish protobuf (`qanchor.v1.Embedding`) instead of JSON.
    let protobuf: Bool
    let metrics: DaemonMetrics
    let logger: Logger

    public init(store: EventStore, executor: ModelExecutor, producer: KafkaProducer, topics: DaemonConfiguration.Topics,
                usersPerBatch: Int, protobuf: Bool = false, metrics: DaemonMetrics, logger: Logger) {
        self.store = store
        self.executor = executor
        self.producer = producer
        self.topics = topics
        self.usersPerBatch = usersPerBatch
        self.protobuf = protobuf
        self.metrics = metrics
        self.logger = logger
    }

    /// What one refresh did.
    public struct Summary: Sendable, Equatable {
        public var published = 0
        public var emptied = 0
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
            metrics.refreshProgress.set(Double(summary.published + summary.emptied))
        }
        metrics.refreshLastCompleted.set(Double(nowMs()) / 1000)
        return summary
    }

    private struct Prepared: Sendable {
        var dirty: DirtyUser
        var record: RefreshRecord
        var outputs: [String: [UInt8]]
        var producerRecords: [KafkaProducerRecord]
        var emptied: Bool
    }

    private func refreshPage(_ page: [DirtyUser], nowMs: Int64, summary: inout Summary) async throws {
        let model = executor.model
        let manifest = model.manifest
        let windowStart = nowMs - Int64(manifest.windowDays) * 86_400_000
        var prepared: [Prepared] = []
        for dirty in page {
            guard let state = try store.userState(dirty.user) else { continue }
            let version = (state.refresh?.version ?? 0) + 1
            let headers = { (scenario: String, type: String) in
                [KafkaHeader("qanchor-scenario", scenario), KafkaHeader("qanchor-fingerprint", model.fingerprint),
                 KafkaHeader("content-type", type)]
            }
            // Only what is inside the window now (the expiry sweep may lag) and at most K_m per modality (the
            // bundle may have changed K_m since the events were stored).
            var history = UserHistory()
            var newestKept: Int64?
            for m in state.modalities {
                if let snapshot = m.snapshot, snapshot.timestampMs >= windowStart {
                    history.tabular[m.name] = snapshot.features
                    newestKept = max(newestKept ?? snapshot.timestampMs, snapshot.timestampMs)
                }
                let cap = manifest.modality(named: m.name)?.maxEvents ?? m.events.count
                let kept = m.events.filter { $0.timestampMs >= windowStart }.suffix(cap)
                if let newest = kept.map(\.timestampMs).max() {
                    history.eventVectors[m.name] = kept.map(\.vector)
                    newestKept = max(newestKept ?? newest, newest)
                }
            }
            // Nothing left in the window (or nothing stored): tombstones, so compacted topics drop the user.
            if newestKept == nil {
                let records = model.scenarioIDs.map { id in
                    KafkaProducerRecord(topic: topics.output(for: id), key: dirty.user.userID, value: nil,
                                        headers: headers(id, "application/json"))
                }
                prepared.append(Prepared(dirty: dirty, record: RefreshRecord(version: version, fingerprint: model.fingerprint,
                                                                             refreshedAtMs: nowMs, newestEventMs: 0),
                                         outputs: [:], producerRecords: records, emptied: true))
                continue
            }
            let metrics = self.metrics, userHistory = history
            let results: [ScenarioEmbedding]
            do {
                results = try await executor.run { model -> [ScenarioEmbedding] in
                    let began = ContinuousClock.now
                    let prefix = try model.prefix(for: userHistory)
                    let prefilled = ContinuousClock.now
                    let out = try model.embeddings(prefix)
                    metrics.latency("prefill").record(prefilled - began)
                    metrics.latency("suffixes").record(ContinuousClock.now - prefilled)
                    return out
                }
            } catch {
                // One user's model failure must not stop the refresh (nor the daemon): it stays dirty.
                summary.failed += 1
                metrics.refreshedUsers("failed").increment()
                logger.error("embedding a user failed; the user stays dirty",
                             metadata: ["partition": "\(dirty.user.partition)", "error": "\(error)"])
                continue
            }
            var outputs: [String: [UInt8]] = [:]
            var records: [KafkaProducerRecord] = []
            for result in results {
                let record = EmbeddingRecord(
                    userID: dirty.user.userID, scenario: result.scenario, embedding: result.embedding, scores: result.scores,
                    modelName: manifest.name, modelVersion: manifest.version, fingerprint: model.fingerprint,
                    version: version, eventTimeMs: newestKept, windowStartMs: windowStart, computedAtMs: nowMs)
                // The store keeps the JSON form (served by GET /v1/users/{id}/embeddings).
                let json = Array(record.json.utf8)
                outputs[result.scenario] = json
                let value = protobuf ? record.protobuf : json
                let type = protobuf ? EmbeddingRecord.protobufContentType : "application/json"
                records.append(KafkaProducerRecord(topic: topics.output(for: result.scenario), key: dirty.user.userID,
                                                   value: value, headers: headers(result.scenario, type),
                                                   timestampMs: nowMs))
            }
            prepared.append(Prepared(dirty: dirty, record: RefreshRecord(version: version, fingerprint: model.fingerprint,
                                                                         refreshedAtMs: nowMs, newestEventMs: newestKept ?? 0),
                                     outputs: outputs, producerRecords: records, emptied: false))
        }

        // Publish everything of the page at once; a user is complete only if all of its records were acknowledged.
        let began = ContinuousClock.now
        let producer = self.producer
        let acknowledged: [Int: Bool] = await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, item) in prepared.enumerated() {
                group.addTask {
                    // All of a user's records at once; the user counts as published only if every one was acked.
                    await withTaskGroup(of: Bool.self) { sends in
                        for record in item.producerRecords {
                            sends.addTask { (try? await producer.send(record)) != nil }
                        }
                        var all = true
                        for await ok in sends { all = all && ok }
                        return (index, all)
                    }
                }
            }
            var out: [Int: Bool] = [:]
            for await (index, ok) in group { out[index] = ok }
            return out
        }
        metrics.latency("publish").record(ContinuousClock.now - began)
        var completed: [CompletedRefresh] = []
        for (index, item) in prepared.enumerated() {
            guard acknowledged[index] == true else {
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
        if !completed.isEmpty {
            let result = try await store.commitRefresh(completed)
            summary.stillDirty += result.stillDirty.count
        }
    }
}
