import Prometheus

/// The daemon's Prometheus metrics (one registry per daemon, exposed at `/metrics`). Labels are bounded sets
/// (modality, outcome, reason, scenario, topic, partition) — never user ids.
///
/// Thread-safe: every metric may be updated from any thread.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10), .seconds(30),
    ]

    public init() {}

    /// A metric's full name (`qanchor_…`, unchanged from earlier releases: dashboards and alerts use it) and help.
    private static func descriptor(_ fullName: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: fullName, unitName: "", helpText: help)
    }

    /// 1, labelled with the binary's version and commit (`qanchor_build_info`): which build runs where.
    public func buildInfo() -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_build_info", "1, labelled with qanchor's version and git commit."),
                           labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit)])
    }

    /// 1, labelled with the loaded bundle (`qanchor_model_info`): which model serves, in which precision.
    public func modelInfo(bundle: String, version: String, fingerprint: String, precision: String) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_model_info",
                                                       "1, labelled with the bundle's name, version, fingerprint and precision."),
                           labels: [("bundle", bundle), ("version", version), ("fingerprint", fingerprint), ("precision", precision)])
    }

    /// Input partitions found with a stored position beyond the end of their log, by topic and the action taken
    /// (`fail`, `earliest`, `window`).
    public func offsetsOutOfRange(topic: String, action: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_input_offset_out_of_range_total",
                                                         "Input partitions whose stored position was beyond the end of their log."),
                             labels: [("topic", topic), ("action", action)])
    }

    /// Input records by modality and outcome: `stored`, `duplicate`, `outside_window`, `superseded`, `rejected`.
    public func events(modality: String, outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_events_total",
                                                         "Input records by modality and outcome."),
                             labels: [("modality", modality), ("outcome", outcome)])
    }

    /// Records sent to the dead-letter topic, by reason code.
    public func deadLetters(reason: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_deadletter_total",
                                                         "Rejected input records sent to the dead-letter topic."),
                             labels: [("reason", reason)])
    }

    /// Content-cache lookups: `hit` (vector reused) or `miss` (text encoded).
    public func contentCache(_ result: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_content_cache_lookups_total",
                                                         "Event-text lookups in the content cache."),
                             labels: [("result", result)])
    }

    /// Texts run through an encoder.
    public var textsEncoded: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_texts_encoded_total",
                                                         "Event texts run through a BERT encoder."))
    }

    /// Latency of a stage: `encode`, `ingest_commit`, `prefill`, `suffixes`, `publish`.
    public func latency(_ stage: String) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.descriptor("qanchor_stage_seconds",
                                                                   "Latency of a pipeline stage."),
                                       labels: [("stage", stage)],
                                       buckets: Self.latencyBuckets)
    }

    /// Users refreshed, by outcome: `published`, `failed`, `emptied` (no events left: tombstones).
    public func refreshedUsers(_ outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_refresh_users_total", "Users refreshed, by outcome."),
                             labels: [("outcome", outcome)])
    }

    /// Output records acknowledged by the broker, by scenario.
    public func published(scenario: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_records_published_total",
                                                         "Embedding records acknowledged by the broker."),
                             labels: [("scenario", scenario)])
    }

    public var refreshRunning: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_refresh_running", "1 while a refresh runs."))
    }

    public var refreshProgress: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_refresh_users_done",
                                                       "Users done in the running (or last) refresh."))
    }

    public var refreshLastCompleted: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_refresh_last_completed_seconds",
                                                       "Unix time of the last completed refresh."))
    }

    public var dirtyUsers: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_dirty_users",
                                                       "Users waiting for a refresh (assigned partitions)."))
    }

    public func consumerLag(topic: String, partition: Int32) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_consumer_lag",
                                                       "Records between the consumer position and the high watermark."),
                           labels: [("topic", topic), ("partition", String(partition))])
    }

    public var storeMapUsed: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_store_map_used_bytes", "LMDB map bytes in use."))
    }

    public var storeMapSize: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_store_map_size_bytes", "LMDB map size."))
    }

    /// 1 while an ingest batch waits for room in a store whose map is at `store.max_map_size_mb`.
    public var storeFull: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_store_full",
                                                       "1 while ingest waits for room in a full store (map at store.max_map_size_mb)."))
    }

    /// Tries of an ingest batch refused by a full store.
    public var storeFullWaits: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_store_full_waits_total",
                                                         "Ingest commits refused by a full store (each is tried again)."))
    }

    /// Accepted records without a key: the producer's partitioner may spread such a user over partitions, and the
    /// state is per (partition, user), so the user's events would be split between states.
    public var unkeyedRecords: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_unkeyed_records_total",
                                                         "Accepted input records without a key (user state may split)."))
    }

    /// Records dropped because their partition was revoked before they were processed (the new owner reads them).
    public var revokedRecordsSkipped: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_revoked_records_skipped_total",
                                                         "Fetched records of partitions revoked before processing."))
    }

    /// Changelog records acknowledged by the broker, by kind: `event`, `snapshot`, `refresh`, `offset`, `tombstone`.
    public func changelogRecords(kind: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_changelog_records_written_total",
                                                         "Changelog records acknowledged by the broker, by kind."),
                             labels: [("kind", kind)])
    }

    /// Changelog records applied while restoring or catching up a partition (or tailing it as a standby), by
    /// outcome: `applied`, `corrupt` (undecodable: skipped, logged with its position).
    public func changelogRestored(outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_changelog_records_restored_total",
                                                         "Changelog records read to restore partitions, by outcome."),
                             labels: [("outcome", outcome)])
    }

    /// Partition restores (and catch-ups) finished, by outcome: `done`, `cancelled`, `failed`.
    public func restores(outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_partition_restores_total",
                                                         "Partition restores from the changelog, by outcome."),
                             labels: [("outcome", outcome)])
    }

    /// Input partition numbers of this instance by state: `active`, `restoring`, `standby`.
    public func partitions(state: String) -> Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_partitions",
                                                       "Input partition numbers of this instance, by state."),
                           labels: [("state", state)])
    }

    /// Input partition numbers no live member of the group announces as its own (restoring or active), as this
    /// instance sees the member directory. Non-zero for more than a rebalance means a member died without leaving.
    public var unownedPartitions: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_group_unowned_partitions",
                                                       "Input partitions no live member owns (member directory)."))
    }

    /// Live members in the member directory.
    public var liveMembers: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_group_live_members",
                                                       "Members that announced themselves recently (member directory)."))
    }

    /// Users found unchanged since their last published refresh (same input digest and fingerprint): not
    /// recomputed, not republished.
    public var unchangedUsersSkipped: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_refresh_unchanged_users_total",
                                                         "Dirty users whose inputs equal their last refresh (not republished)."))
    }

    /// Per-user HTTP requests by routing outcome: `local`, `redirect`, `unavailable`.
    public func routedRequests(_ outcome: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_http_user_requests_total",
                                                         "Per-user HTTP requests by routing outcome."),
                             labels: [("outcome", outcome)])
    }

    /// Keyed input records whose partition differs from what `kafka.partitioner` computes for the key: lookups of
    /// such users are routed to the wrong instance (the producer uses another partitioner).
    public var partitionerMismatches: Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_partitioner_mismatch_total",
                                                         "Keyed input records not in the partition kafka.partitioner computes."))
    }

    /// Query-API requests (`endpoint`: `user_query`, `embeddings`) by HTTP status code — TEI's
    /// `te_request_count` / `te_request_success` split by status instead of by outcome name.
    public func queryRequests(endpoint: String, status: Int) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_query_requests_total",
                                                         "Query-API requests by endpoint and HTTP status."),
                             labels: [("endpoint", endpoint), ("status", String(status))])
    }

    /// Time from a query-API request's admission to its answer (`endpoint`), queueing for the model included.
    public func queryDuration(endpoint: String) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.descriptor("qanchor_query_seconds",
                                                                   "Query-API request latency, admission to answer."),
                                       labels: [("endpoint", endpoint)], buckets: Self.latencyBuckets)
    }

    /// Time a query-API request waited for the model thread (`endpoint`) — TEI's `te_queue_duration`.
    public func queryQueueing(endpoint: String) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.descriptor("qanchor_query_queue_seconds",
                                                                   "Query-API time waiting for the model thread."),
                                       labels: [("endpoint", endpoint)], buckets: Self.latencyBuckets)
    }

    /// Backbone tokens of the queries and texts the query API ran (`endpoint`).
    public func queryTokens(endpoint: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_query_input_tokens_total",
                                                         "Backbone tokens of query-API inputs."),
                             labels: [("endpoint", endpoint)])
    }

    /// Prefix-state lookups of user queries: `hit` (suffix only) or `miss` (prefill).
    public func prefixCache(_ result: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_query_prefix_cache_total",
                                                         "Prefix-state cache lookups of user queries."),
                             labels: [("result", result)])
    }

    /// Prefix states written to the cache, by who wrote them (`query`, `refresh`).
    public func prefixCacheWrites(_ source: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_query_prefix_cache_writes_total",
                                                         "Prefix states written to the store's cache."),
                             labels: [("source", source)])
    }

    /// Users the refresh embedded, by where their prefix state came from: `computed` (prefill) or `cached` (the
    /// query cache held it for the same inputs: only the suffixes ran).
    public func refreshPrefix(_ source: String) -> Counter {
        registry.makeCounter(descriptor: Self.descriptor("qanchor_refresh_prefix_states_total",
                                                         "Refreshed users by the source of their prefix state."),
                             labels: [("source", source)])
    }

    /// Query-API requests being served.
    public var queriesInFlight: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_query_in_flight", "Query-API requests being served."))
    }

    public var ready: Gauge {
        registry.makeGauge(descriptor: Self.descriptor("qanchor_ready", "1 when assigned and caught up."))
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
