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

    /// Input records by modality and outcome: `stored`, `duplicate`, `outside_window`, `superseded`, `rejected`.
    public func events(modality: String, outcome: String) -> Counter {
        registry.makeCounter(name: "qanchor_events_total", labels: [("modality", modality), ("outcome", outcome)],
                             help: "Input records by modality and outcome.")
    }

    /// Records sent to the dead-letter topic, by reason code.
    public func deadLetters(reason: String) -> Counter {
        registry.makeCounter(name: "qanchor_deadletter_total", labels: [("reason", reason)],
                             help: "Rejected input records sent to the dead-letter topic, by reason.")
    }

    /// Content-cache lookups: `hit` (vector reused) or `miss` (text encoded).
    public func contentCache(_ result: String) -> Counter {
        registry.makeCounter(name: "qanchor_content_cache_lookups_total", labels: [("result", result)],
                             help: "Event-text lookups in the content cache.")
    }

    /// Texts run through an encoder.
    public var textsEncoded: Counter {
        registry.makeCounter(name: "qanchor_texts_encoded_total", help: "Event texts run through a BERT encoder.")
    }

    /// Latency of a stage: `encode`, `ingest_commit`, `prefill`, `suffixes`, `publish`.
    public func latency(_ stage: String) -> DurationHistogram {
        registry.makeDurationHistogram(name: "qanchor_stage_seconds", labels: [("stage", stage)],
                                       buckets: Self.latencyBuckets, help: "Latency of a pipeline stage.")
    }

    /// Users refreshed, by outcome: `published`, `failed`, `emptied` (no events left: tombstones).
    public func refreshedUsers(_ outcome: String) -> Counter {
        registry.makeCounter(name: "qanchor_refresh_users_total", labels: [("outcome", outcome)],
                             help: "Users refreshed, by outcome.")
    }

    /// Output records acknowledged by the broker, by scenario.
    public func published(scenario: String) -> Counter {
        registry.makeCounter(name: "qanchor_records_published_total", labels: [("scenario", scenario)],
                             help: "Embedding records acknowledged by the broker.")
    }

    public var refreshRunning: Gauge {
        registry.makeGauge(name: "qanchor_refresh_running", help: "1 while a refresh runs.")
    }

    public var refreshProgress: Gauge {
        registry.makeGauge(name: "qanchor_refresh_users_done", help: "Users done in the running (or last) refresh.")
    }

    public var refreshLastCompleted: Gauge {
        registry.makeGauge(name: "qanchor_refresh_last_completed_seconds", help: "Unix time of the last completed refresh.")
    }

    public var dirtyUsers: Gauge {
        registry.makeGauge(name: "qanchor_dirty_users", help: "Users waiting for a refresh (assigned partitions).")
    }

    public func consumerLag(topic: String, partition: Int32) -> Gauge {
        registry.makeGauge(name: "qanchor_consumer_lag", labels: [("topic", topic), ("partition", String(partition))],
                           help: "Records between the consumer position and the high watermark.")
    }

    public var storeMapUsed: Gauge {
        registry.makeGauge(name: "qanchor_store_map_used_bytes", help: "LMDB map bytes in use.")
    }

    public var storeMapSize: Gauge {
        registry.makeGauge(name: "qanchor_store_map_size_bytes", help: "LMDB map size.")
    }

    public var ready: Gauge {
        registry.makeGauge(name: "qanchor_ready", help: "1 when assigned and caught up.")
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
