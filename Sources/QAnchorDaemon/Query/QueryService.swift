import Foundation
import Logging
import QAnchorModel
import QAnchorStore
import Synchronization

/// The query API's work (docs/query.md): ad-hoc scenario queries on a user's cached prefix state, the text tower for
/// `/v1/embeddings`, and the prefix-state cache in the store that makes a query cost only its suffix pass.
///
/// - A user query reads the user's stored events, selects the model's inputs exactly as the refresh does (so the
///   input digest names them), and looks the prefix state up under (digest, bundle fingerprint). A hit restores the
///   state and runs only the query suffixes, all in one batch; a miss prefills and, with a budget, stores the state.
///   The state is rounded to fp16 on a miss too, so a hit and a miss give the same numbers.
/// - Limits: query count and token length per request (413), concurrent requests (429), and a deadline for the model
///   work to start (504). The model thread serves queries before waiting ingest/refresh work.
/// - Nothing here logs a user id or query text at info, or puts one in a metric label.
///
/// Threading: every method may be called from any task.
public final class QueryService: Sendable {
    let store: EventStore
    let executor: ModelExecutor
    let limits: DaemonConfiguration.Query
    /// The encoding event vectors are rounded to (part of the input digest; as the refresher's).
    let vectorEncoding: VectorEncoding
    let metrics: DaemonMetrics
    let logger: Logger
    private let inFlight = Mutex(0)

    init(store: EventStore, executor: ModelExecutor, limits: DaemonConfiguration.Query, vectorEncoding: VectorEncoding,
         metrics: DaemonMetrics, logger: Logger) {
        self.store = store
        self.executor = executor
        self.limits = limits
        self.vectorEncoding = vectorEncoding
        self.metrics = metrics
        self.logger = logger
    }

    var model: QAnchorEmbedder { executor.model }
    var cacheEnabled: Bool { limits.cacheBudgetBytes > 0 }

    // MARK: Admission

    /// Runs `body` if fewer than `max_concurrent_requests` requests are being served, else throws 429. Counts and
    /// times the request under `endpoint`.
    func admitted<T: Sendable>(_ endpoint: String, _ body: (_ deadline: ContinuousClock.Instant) async throws(QueryError) -> T)
        async throws(QueryError) -> T {
        let began = ContinuousClock.now
        let entered = inFlight.withLock { count -> Bool in
            guard count < limits.maxConcurrentRequests else { return false }
            count += 1
            return true
        }
        guard entered else {
            metrics.queryRequests(endpoint: endpoint, status: 429).increment()
            throw .overloaded(limits.maxConcurrentRequests)
        }
        metrics.queriesInFlight.increment()
        defer {
            inFlight.withLock { $0 -= 1 }
            metrics.queriesInFlight.decrement()
            metrics.queryDuration(endpoint: endpoint).record(ContinuousClock.now - began)
        }
        do {
            let result = try await body(began + .milliseconds(limits.timeoutMs))
            metrics.queryRequests(endpoint: endpoint, status: 200).increment()
            return result
        } catch {
            metrics.queryRequests(endpoint: endpoint, status: error.status).increment()
            throw error
        }
    }

    /// Runs model work at interactive priority; maps an expired deadline to 504 and model errors to 400/500.
    private func onModel<T: Sendable>(_ endpoint: String, deadline: ContinuousClock.Instant,
                                      _ body: @escaping @Sendable (QAnchorEmbedder) throws -> T) async throws(QueryError) -> T {
        let queued = ContinuousClock.now
        let metrics = self.metrics
        do {
            return try await executor.run(.interactive, deadline: deadline) { model in
                metrics.queryQueueing(endpoint: endpoint).record(ContinuousClock.now - queued)
                return try body(model)
            }
        } catch is ModelExecutor.Expired {
            throw .timeout(limits.timeoutMs)
        } catch let error as QueryError {
            throw error
        } catch QAnchorModelError.unknownScenario(let id) {
            throw unknownScenario(id, param: "scenario")
        } catch QAnchorModelError.input(let problem) {
            throw .invalid(problem)
        } catch {
            logger.error("query model work failed", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            throw .failed("the model failed on this request")
        }
    }

    // MARK: User queries

    /// The answer to a user query.
    struct UserAnswer: Sendable {
        var records: [EmbeddingRecord]
        /// Whether the prefix state came from the cache.
        var cacheHit: Bool
    }

    /// Checks a request's queries against the limits and the bundle before any work (400/413). Returns the
    /// queries' backbone tokens in all.
    @discardableResult
    func validate(_ queries: [ScenarioQuery]) throws(QueryError) -> Int {
        guard !queries.isEmpty else { throw .invalid("no query given", param: "queries") }
        guard queries.count <= limits.maxQueriesPerRequest else {
            throw .tooLarge("\(queries.count) queries, more than query.max_queries_per_request (\(limits.maxQueriesPerRequest))",
                            param: "queries")
        }
        var total = 0
        for (i, q) in queries.enumerated() {
            let field = queries.count == 1 ? "query" : "queries[\(i)].query"
            guard !q.query.isEmpty else { throw .invalid("the query is empty", param: field) }
            let tokens = model.queryTokenCount(q.query)
            total += tokens
            guard tokens <= limits.maxQueryTokens else {
                throw .tooLarge("the query has \(tokens) tokens, more than query.max_query_tokens (\(limits.maxQueryTokens))", param: field)
            }
            if let id = q.scenario, model.manifest.scenario(id: id) == nil {
                throw unknownScenario(id, param: queries.count == 1 ? "scenario" : "queries[\(i)].scenario")
            }
        }
        return total
    }

    private func unknownScenario(_ id: String, param: String) -> QueryError {
        .invalid("unknown scenario '\(id)' (the bundle has \(model.scenarioIDs.joined(separator: ", ")))", param: param)
    }

    /// The user's embeddings under `queries`, at `nowMs` (the window ends there), from the cached prefix state when
    /// it matches the user's current inputs. Throws 404 for a user with nothing stored or nothing in the window.
    func query(_ user: UserKey, _ queries: [ScenarioQuery], nowMs: Int64, deadline: ContinuousClock.Instant)
        async throws(QueryError) -> UserAnswer {
        let tokens = try validate(queries)
        let model = self.model, manifest = model.manifest
        let windowStart = nowMs - Int64(manifest.windowDays) * 86_400_000
        // The digest needs no vectors: they are read only for a miss, which prefills.
        func read(withVectors: Bool) throws(QueryError) -> (UserState, ModelInputs) {
            let state: UserState?
            do { state = try store.userState(user, withVectors: withVectors) } catch {
                logger.error("reading a user's events for a query failed", metadata: ["partition": "\(user.partition)", "error": "\(error)"])
                throw .failed("reading the user's events failed")
            }
            guard let state, !state.isEmpty else { throw .notFound("no events are stored for this user", param: "user") }
            return (state, ModelInputs(state, manifest: manifest, windowStartMs: windowStart, vectorEncoding: vectorEncoding))
        }
        var (state, inputs) = try read(withVectors: false)
        guard let newest = inputs.newestEventMs else {
            throw .notFound("the user has no events in the window (\(manifest.windowDays) days)", param: "user")
        }
        var restored: DecoderState?
        if cacheEnabled {
            do {
                if let bytes = try store.prefixKV(user, contentHash: inputs.digest, fingerprint: model.fingerprint) {
                    restored = try? DecoderState(serialized: Data(bytes))
                    if restored == nil { logger.warning("a cached prefix state did not decode; prefilling") }
                }
            } catch {
                logger.warning("reading a cached prefix state failed; prefilling", metadata: ["error": "\(error)"])
            }
        }
        if restored == nil { (state, inputs) = try read(withVectors: true) }
        let history = inputs.history, found = restored
        let (results, stored) = try await onModel("user_query", deadline: deadline) { model in
            if let found { return (try model.embeddings(UserPrefix(state: found), queries: queries), nil as [UInt8]?) }
            let bytes = [UInt8](try model.prefix(for: history).state.serialized(precision: .fp16))
            let prefix = UserPrefix(state: try DecoderState(serialized: Data(bytes)))
            return (try model.embeddings(prefix, queries: queries), bytes)
        }
        let hit = stored == nil
        metrics.prefixCache(hit ? "hit" : "miss").increment()
        metrics.queryTokens(endpoint: "user_query").increment(by: Int64(tokens))
        if hit {
            do { try await store.touchPrefixKV(user) } catch {
                logger.warning("updating the prefix cache's LRU order failed", metadata: ["error": "\(error)"])
            }
        } else if let stored {
            await cache(stored, digest: inputs.digest, for: user, source: "query")
        }
        let computedAt = Int64(Date().timeIntervalSince1970 * 1000)
        let records = results.map { r in
            EmbeddingRecord(userID: user.userID, scenario: r.scenario, embedding: r.embedding, scores: r.scores,
                            modelName: manifest.name, modelVersion: manifest.version, fingerprint: model.fingerprint,
                            version: state.refresh?.version ?? 0, eventTimeMs: newest, windowStartMs: windowStart,
                            computedAtMs: computedAt)
        }
        return UserAnswer(records: records, cacheHit: hit)
    }

    // MARK: The prefix cache

    /// Stores a user's fp16 prefix state under its input digest and the bundle fingerprint (no-op without a budget;
    /// a state larger than the whole budget is skipped with a debug log). Never throws: the cache is best effort.
    func cache(_ bytes: [UInt8], digest: [UInt8], for user: UserKey, source: String) async {
        guard cacheEnabled else { return }
        do {
            _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: digest, fingerprint: model.fingerprint, bytes: bytes), for: user)
            metrics.prefixCacheWrites(source).increment()
        } catch StoreError.invalidInput(_, let reason) {
            logger.debug("prefix state not cached", metadata: ["reason": "\(reason)"])
        } catch {
            logger.warning("storing a prefix state failed", metadata: ["error": "\(error)"])
        }
    }

    /// The cached prefix state of `user` for inputs with `digest` under this bundle, if the cache holds it (the
    /// refresh uses it instead of prefilling). Nil on any read error.
    func cachedPrefixState(_ user: UserKey, digest: [UInt8]) -> [UInt8]? {
        guard cacheEnabled else { return nil }
        return try? store.prefixKV(user, contentHash: digest, fingerprint: model.fingerprint)
    }

    /// Whether a refresh should store `user`'s new prefix state: every user under `refreshed`; under `queried`
    /// only users already cached (their state would otherwise be stale until their next query).
    func refreshShouldCache(_ user: UserKey) -> Bool {
        guard cacheEnabled else { return false }
        switch limits.cachePolicy {
        case .refreshed: return true
        case .queried: return (try? store.hasPrefixKV(user)) ?? false
        }
    }

    // MARK: Text embeddings

    /// The text tower over `texts` in one batch, with each text's token count (`/v1/embeddings`).
    func embedTexts(_ texts: [String], deadline: ContinuousClock.Instant) async throws(QueryError) -> [(embedding: [Float], tokens: Int)] {
        guard !texts.isEmpty else { throw .invalid("input must not be empty", param: "input") }
        guard texts.count <= limits.maxQueriesPerRequest else {
            throw .tooLarge("\(texts.count) inputs, more than query.max_queries_per_request (\(limits.maxQueriesPerRequest))",
                            param: "input")
        }
        var tokens: [Int] = []
        for (i, text) in texts.enumerated() {
            guard !text.isEmpty else { throw .invalid("input[\(i)] is empty", param: "input") }
            // Checked on the whole text (the tower itself would cut it at text_tower.max_tokens).
            let n = model.textTokenCount(text, truncated: false)
            guard n <= limits.maxQueryTokens else {
                throw .tooLarge("input[\(i)] has \(n) tokens, more than query.max_query_tokens (\(limits.maxQueryTokens))", param: "input")
            }
            tokens.append(n)
        }
        metrics.queryTokens(endpoint: "embeddings").increment(by: Int64(tokens.reduce(0, +)))
        let vectors = try await onModel("embeddings", deadline: deadline) { model in try model.embedTexts(texts).map(\.embedding) }
        return Array(zip(vectors, tokens))
    }
}
