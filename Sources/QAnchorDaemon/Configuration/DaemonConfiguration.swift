import Foundation
import Logging
import QAnchorKafka
import QAnchorModel
import QAnchorStore

/// Everything `qanchor serve` is configured with. A `Sendable` value type; every member has a default except the
/// model bundle and the store directory. Read it with `DaemonConfiguration(reader:)` (YAML file + `QANCHOR_*`
/// environment variables; every key is declared once in `DaemonConfiguration.keys`, listed in docs/configuration.md)
/// with ``load(file:environment:modalities:)``, which also runs ``problems()``.
public struct DaemonConfiguration: Sendable, Equatable {
    /// Kafka connection and consumer-group settings.
    public struct Kafka: Sendable, Equatable {
        /// `host:port` of the bootstrap brokers.
        public var bootstrapServers: [String] = ["127.0.0.1:9092"]
        /// The consumer group all instances of this daemon share.
        public var groupID = "qanchor"
        /// Static membership id (`group.instance.id`), e.g. the pod name of a StatefulSet.
        public var groupInstanceID: String?
        /// `client.id`.
        public var clientID = "qanchor"
        /// `session.timeout.ms`.
        public var sessionTimeoutMs = 45_000
        /// `max.poll.interval.ms`.
        public var maxPollIntervalMs = 300_000
        /// `partition.assignment.strategy` of the group, which subscribes to the first input topic only (the lead);
        /// partition *p* of every other input goes with lead partition *p* (docs/kafka.md). Default
        /// `cooperative-sticky`: a membership change pauses only the partitions that move. `range`/`roundrobin`
        /// stop every member at each change.
        public var assignmentStrategy = AssignmentStrategy.cooperativeSticky
        /// How producers place users in partitions (`murmur2`: the Java client's default; `crc32`: librdkafka's
        /// default), so any instance can compute a user's partition — and owner — for lookups.
        public var partitioner = UserPartitioner.murmur2
        /// Where a partition without stored offsets starts: `earliest` or `latest`.
        public var autoOffsetReset = OffsetReset.earliest
        /// What to do when an input partition's stored position lies beyond the end of its log (the topic was
        /// recreated, the broker lost its storage, the log was truncated): stop (`fail`, default), or re-read from
        /// the log start (`earliest`) or from the bundle's window (`window`). Logged and counted either way.
        public var onOffsetOutOfRange = OffsetOutOfRangePolicy.fail
        /// librdkafka statistics (lag) interval; 0 disables.
        public var statisticsIntervalMs = 10_000
        /// Extra librdkafka properties, passed through verbatim (SASL/SSL included). Secret values never reach logs.
        public var properties: [String: String] = [:]
        public init() {}
    }

    /// Topic names.
    public struct Topics: Sendable, Equatable {
        /// Input topic per modality name; a modality missing here reads `qanchor.events.<modality>`.
        public var inputs: [String: String] = [:]
        /// Rejected records go here, with headers naming source and reason.
        public var deadLetter = "qanchor.deadletter"
        /// Output topic per scenario; `{scenario}` is replaced by the scenario id.
        public var outputTemplate = "qanchor.embeddings.{scenario}"
        /// Replication of the topics qanchor creates; -1 = the broker's `default.replication.factor`.
        public var replicationFactor: Int32 = -1
        /// The changelog topic (compacted, co-partitioned with the inputs); `{group}` is replaced by `kafka.group_id`.
        public var changelog = "{group}.changelog"
        /// The member directory topic (compacted, one partition); `{group}` is replaced by `kafka.group_id`.
        public var members = "{group}.members"
        public init() {}

        public func changelog(group: String) -> String { changelog.replacingOccurrences(of: "{group}", with: group) }
        public func members(group: String) -> String { members.replacingOccurrences(of: "{group}", with: group) }

        /// The topics qanchor creates when missing: output topics compacted (the latest record per user is the
        /// state; tombstones remove emptied users), the dead-letter topic (and inputs, for tools) with the broker's
        /// default cleanup policy; all with `partitions` partitions and `replicationFactor`. With `group`, also the
        /// changelog (compacted, co-partitioned; unless `changelogEnabled` is false) and the member directory
        /// (compacted, one partition) of that consumer group.
        public func specifications(modalities: [String], scenarios: [String], partitions: Int32, includeInputs: Bool,
                                   group: String? = nil, changelogEnabled: Bool = true) -> [KafkaTopicSpecification] {
            let plain = (includeInputs ? modalities.map { input(for: $0) } : []) + [deadLetter]
            let compact = ["cleanup.policy": "compact"]
            var out = plain.map { KafkaTopicSpecification(name: $0, partitions: partitions, replicationFactor: replicationFactor) }
                + scenarios.map {
                    KafkaTopicSpecification(name: output(for: $0), partitions: partitions, replicationFactor: replicationFactor,
                                            configs: compact)
                }
            if let group {
                if changelogEnabled {
                    out.append(KafkaTopicSpecification(name: changelog(group: group), partitions: partitions,
                                                       replicationFactor: replicationFactor, configs: compact))
                }
                out.append(KafkaTopicSpecification(name: members(group: group), partitions: 1,
                                                   replicationFactor: replicationFactor, configs: compact))
            }
            return out
        }

        public func input(for modality: String) -> String { inputs[modality] ?? "qanchor.events.\(modality)" }
        public func output(for scenario: String) -> String {
            outputTemplate.replacingOccurrences(of: "{scenario}", with: scenario)
        }
    }

    /// The model.
    public struct Model: Sendable, Equatable {
        /// The bundle directory (required).
        public var bundle = ""
        /// OpenBLAS threads; 0 = the number of cores.
        public var threads = 0
        /// `fp32` (default; the numerical contract) or `bf16` (AVX512-BF16 CPUs: ~2× faster, half the weight
        /// memory, embeddings within cosine 0.999 of fp32 — docs/engine.md).
        public var precision = ComputePrecision.fp32
        public init() {}
    }

    /// The LMDB store.
    public struct Store: Sendable, Equatable {
        /// The store directory (required; created 0700).
        public var path = ""
        /// `float32` (exact) or `float16` (half the bytes; see docs/store.md for the measured error).
        public var vectorEncoding = VectorEncoding.float32
        /// fsync every commit (crash-safe against power loss). `false` keeps crash safety against process crashes.
        public var durable = true
        /// Initial map size; it grows on demand.
        public var mapSizeMB = 1024
        /// The map never grows beyond this: a full store pauses ingest until space returns (expired events free pages).
        public var maxMapSizeMB = 1 << 20
        /// `per_request` (every ingest batch is one durable LMDB commit; reads see it at once) or `journaled`
        /// (batches are made durable by an fdatasynced write-ahead journal and checkpointed into LMDB every
        /// `checkpointIntervalMs` / `checkpointEvents`: 2–3× the ingest rate; the refresh checkpoints first).
        public var commit = CommitPolicy.perRequest
        public var checkpointIntervalMs = 5000
        public var checkpointEvents = 200_000
        public init() {}
    }

    /// Ingest: batching, back-pressure and validation limits.
    public struct Ingest: Sendable, Equatable {
        /// Records per consumer batch (one LMDB transaction per batch).
        public var batchSize = 1000
        /// Pause the partitions when this many records are waiting to be ingested…
        public var pauseAbove = 20_000
        /// …and resume them below this.
        public var resumeBelow = 5_000
        /// Largest accepted event text, in UTF-8 bytes.
        public var maxTextBytes = 4096
        /// How far in the future an event time may be (clock skew), in milliseconds.
        public var skewMs = 300_000
        public init() {}
    }

    /// When refreshes run.
    public struct Refresh: Sendable, Equatable {
        /// Daily at this UTC time (`HH:MM`), unless `intervalSeconds` is set.
        public var dailyAt = "02:00"
        /// If > 0: refresh every this many seconds instead of daily.
        public var intervalSeconds = 0
        /// Users prefilled and published per step (their records are awaited together).
        public var usersPerBatch = 16
        /// After a bundle change every user becomes dirty; at most this many users per second are re-dirtied.
        public var redirtyUsersPerSecond = 1000
        /// Expiry sweep: events removed per transaction, and how often the sweep runs.
        public var expiryBatch = 1000
        public var expiryIntervalSeconds = 60
        public init() {}
    }

    /// Running as many instances (docs/daemon.md "Scale-out").
    public struct Scaling: Sendable, Equatable {
        /// Write the changelog (event vectors, snapshots, refresh records, input offsets) and restore moved
        /// partitions from it. Off: a moved partition is rebuilt from the input topics (re-encoding its texts).
        public var changelog = true
        /// How event vectors are written to the changelog (`float16` or `float32`). Fresh vectors are rounded to it
        /// before use, so every owner computes on the same numbers.
        public var changelogVectorEncoding = VectorEncoding.float16
        /// Instances that follow each partition's changelog besides its owner (warm standbys).
        public var standbyReplicas = 0
        /// How often the member directory is re-announced; a member silent for three is dead.
        public var heartbeatMs = 3000
        /// This instance's name in the member directory (default: `kafka.group_instance_id`, else host-pid).
        public var instanceID: String?
        public init() {}
    }

    /// Output records.
    public struct Output: Sendable, Equatable {
        /// `json` (default), `protobuf` (messages of `ops/proto/qanchor.proto`) or `json_schema_registry` (the JSON in
        /// Confluent Schema Registry framing, with `schemaID`).
        public var format = OutputFormat.json
        /// The registered schema id written in each record with `json_schema_registry` (the id of
        /// `ops/schema/qanchor-embedding.schema.json` in your registry).
        public var schemaID = 0
        public init() {}
    }

    /// The HTTP server (metrics, health, admin).
    public struct HTTP: Sendable, Equatable {
        public var enabled = true
        /// Bind address; loopback unless you mean it.
        public var host = "127.0.0.1"
        public var port = 8080
        /// The base URL other instances redirect this instance's users to (e.g. `http://qanchor-0.qanchor:8080`).
        /// Default: `http://<host>:<bound port>` (the host name of the machine when `host` is a wildcard).
        public var advertisedURL: String?
        /// A file holding the bearer token that `/v1/*` and `/admin/*` require (`Authorization: Bearer <token>`).
        /// Required when `host` is not a loopback address.
        public var tokenFile: String?
        /// A file holding a separate bearer token for `/admin/*` (refresh, leave); the `tokenFile` token then opens only
        /// `/v1/*`. Unset: `/admin/*` takes the `tokenFile` token.
        public var adminTokenFile: String?
        public init() {}

        /// Whether `host` is a loopback address (or name).
        public var isLoopback: Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// Ad-hoc queries and text embeddings over HTTP (docs/query.md).
    public struct Query: Sendable, Equatable {
        /// Byte budget of the cached prefix states in the store (LRU); 0: no cache, every query prefills.
        public var cacheBudgetBytes = 1 << 30
        /// Which users' prefix states are kept: `queried` (the users queried most recently; a refresh updates the
        /// states it finds) or `refreshed` (every refreshed user too, up to the budget).
        public var cachePolicy = QueryCachePolicy.queried
        /// Longest accepted query, in backbone tokens (template included); texts for `/v1/embeddings` likewise.
        public var maxQueryTokens = 256
        /// Most queries in one user query request, and most inputs in one `/v1/embeddings` request.
        public var maxQueriesPerRequest = 32
        /// Query and embedding requests served at once; more are answered 429.
        public var maxConcurrentRequests = 16
        /// A request whose model work has not started within this time is answered 504.
        public var timeoutMs = 30_000
        public init() {}
    }

    /// Scenarios beyond the bundle's (docs/query.md "Query-only scenarios").
    public struct Scenarios: Sendable, Equatable {
        /// Query-only scenarios, published to their own topics like the bundle's. Adding or changing one changes the
        /// deployment's serving fingerprint (not the bundle's), so every user is refreshed again (at
        /// `refresh.redirty_users_per_second`); users whose prefix state is cached cost only the suffix pass.
        public var extra: [ExtraScenario] = []
        public init() {}
    }

    /// One query-only scenario (`scenarios.extra[i]`).
    public struct ExtraScenario: Sendable, Equatable {
        /// `[A-Za-z0-9._-]{1,200}`, unique among the bundle's and the other extra scenarios (it names a topic).
        public var id: String
        /// The query text (not empty), through the bundle's `suffix_template`.
        public var query: String
        /// A JSON file `{"prototypes": [[…], …], "labels": […], "tau": x}` (labels and tau optional) for scores.
        public var prototypesFile: String?

        public init(id: String, query: String, prototypesFile: String? = nil) {
            self.id = id
            self.query = query
            self.prototypesFile = prototypesFile
        }
    }

    /// Logging.
    public struct Log: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level = Logger.Level.info
        /// `text` or `json`.
        public var format = LogFormat.text
        public init() {}
    }

    public var kafka = Kafka()
    public var topics = Topics()
    public var model = Model()
    public var store = Store()
    public var ingest = Ingest()
    public var refresh = Refresh()
    public var scaling = Scaling()
    public var output = Output()
    public var http = HTTP()
    public var query = Query()
    public var scenarios = Scenarios()
    public var log = Log()

    public init() {}
}

/// `kafka.assignment_strategy`: how the group assigns the lead input topic's partitions.
public enum AssignmentStrategy: String, Sendable, CaseIterable {
    case cooperativeSticky = "cooperative-sticky"
    case range
    case roundrobin
}

/// `kafka.auto_offset_reset`: where a partition without stored offsets starts.
public enum OffsetReset: String, Sendable, CaseIterable {
    case earliest
    case latest
}

/// `kafka.on_offset_out_of_range` (docs/daemon.md "When the input log moves under the daemon").
public enum OffsetOutOfRangePolicy: String, Sendable, CaseIterable {
    /// Stop with an error naming the partition, the stored position and the log's end.
    case fail
    /// Re-read the partition from the first offset still in the log.
    case earliest
    /// Re-read the partition from the first record inside the bundle's window (now − window_days).
    case window
}

/// `query.cache_policy`: which users' prefix states the store keeps (docs/query.md "The prefix cache").
public enum QueryCachePolicy: String, Sendable, CaseIterable {
    /// Users stored by a query miss, most recently queried kept; a refresh updates the entries it finds.
    case queried
    /// Every refreshed user too (the refresh computes the prefix anyway), most recently stored or queried kept.
    case refreshed
}

/// `store.commit`: when ingest batches become durable (docs/store.md).
public enum CommitPolicy: String, Sendable, CaseIterable {
    case perRequest = "per_request"
    case journaled
}

/// `output.format`: the bytes of each output record (`OutputFormats.encoder`).
public enum OutputFormat: String, Sendable, CaseIterable {
    case json
    case protobuf
    case jsonSchemaRegistry = "json_schema_registry"
}

/// `log.format`.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// A configuration value that is missing or wrong: which key, what was found, what is expected.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "configuration key '\(key)': \(problem)" }
}

extension DaemonConfiguration {
    /// Checks values that have a fixed form. Returns every problem (not just the first).
    public func problems() -> [ConfigurationError] {
        var out: [ConfigurationError] = []
        func check(_ ok: Bool, _ key: String, _ problem: String) {
            if !ok { out.append(ConfigurationError(key: key, problem: problem)) }
        }
        check(!kafka.bootstrapServers.isEmpty, "kafka.bootstrap_servers", "at least one host:port is needed")
        check(!kafka.groupID.isEmpty, "kafka.group_id", "must not be empty")
        check(scaling.standbyReplicas >= 0, "scaling.standby_replicas", "must be ≥ 0, found \(scaling.standbyReplicas)")
        check(scaling.heartbeatMs >= 100, "scaling.heartbeat_ms", "must be ≥ 100, found \(scaling.heartbeatMs)")
        check(!topics.changelog(group: kafka.groupID).isEmpty, "topics.changelog", "must not be empty")
        check(!topics.members(group: kafka.groupID).isEmpty, "topics.members", "must not be empty")
        check(http.advertisedURL.map { URL(string: $0)?.scheme?.hasPrefix("http") == true } ?? true, "http.advertised_url",
              "expected an http(s) URL, found '\(http.advertisedURL ?? "")'")
        check(kafka.sessionTimeoutMs > 0, "kafka.session_timeout_ms", "must be > 0, found \(kafka.sessionTimeoutMs)")
        check(kafka.maxPollIntervalMs >= kafka.sessionTimeoutMs, "kafka.max_poll_interval_ms",
              "must be ≥ kafka.session_timeout_ms, found \(kafka.maxPollIntervalMs)")
        check(!model.bundle.isEmpty, "model.bundle", "required: the model bundle directory")
        check(model.threads >= 0, "model.threads", "must be ≥ 0, found \(model.threads)")
        check(!store.path.isEmpty, "store.path", "required: the store directory")
        check(store.mapSizeMB > 0, "store.map_size_mb", "must be > 0, found \(store.mapSizeMB)")
        check(store.maxMapSizeMB >= store.mapSizeMB, "store.max_map_size_mb",
              "must be ≥ store.map_size_mb (\(store.mapSizeMB)), found \(store.maxMapSizeMB)")
        check(store.checkpointIntervalMs > 0, "store.checkpoint_interval_ms", "must be > 0, found \(store.checkpointIntervalMs)")
        check(store.checkpointEvents > 0, "store.checkpoint_events", "must be > 0, found \(store.checkpointEvents)")
        check(topics.outputTemplate.contains("{scenario}"), "topics.output_template", "must contain {scenario}, found \(topics.outputTemplate)")
        check(!topics.deadLetter.isEmpty, "topics.dead_letter", "must not be empty")
        check(topics.replicationFactor == -1 || topics.replicationFactor >= 1, "topics.replication_factor",
              "must be -1 (broker default) or at least 1, found \(topics.replicationFactor)")
        check(ingest.batchSize > 0, "ingest.batch_size", "must be > 0, found \(ingest.batchSize)")
        check(ingest.resumeBelow < ingest.pauseAbove, "ingest.resume_below", "must be < ingest.pause_above, found \(ingest.resumeBelow)")
        check(ingest.maxTextBytes > 0, "ingest.max_text_bytes", "must be > 0, found \(ingest.maxTextBytes)")
        check(ingest.skewMs >= 0, "ingest.skew_ms", "must be ≥ 0, found \(ingest.skewMs)")
        check(ingest.pauseAbove > 0, "ingest.pause_above", "must be > 0, found \(ingest.pauseAbove)")
        check(kafka.statisticsIntervalMs >= 0, "kafka.statistics_interval_ms", "must be ≥ 0, found \(kafka.statisticsIntervalMs)")
        check(query.cacheBudgetBytes >= 0, "query.cache_budget_bytes", "must be ≥ 0, found \(query.cacheBudgetBytes)")
        check(query.maxQueryTokens > 0, "query.max_query_tokens", "must be > 0, found \(query.maxQueryTokens)")
        check(query.maxQueriesPerRequest > 0, "query.max_queries_per_request", "must be > 0, found \(query.maxQueriesPerRequest)")
        check(query.maxConcurrentRequests > 0, "query.max_concurrent_requests", "must be > 0, found \(query.maxConcurrentRequests)")
        var seenIDs = Set<String>()
        for (i, s) in scenarios.extra.enumerated() {
            let key = "scenarios.extra[\(i)]"
            check(s.id.utf8.count <= 200 && !s.id.isEmpty && s.id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) },
                  key + ".id", "expected 1–200 of A–Z a–z 0–9 . _ - (it names a topic), found '\(s.id)'")
            check(seenIDs.insert(s.id).inserted, key + ".id", "'\(s.id)' is used twice")
            check(!s.query.isEmpty, key + ".query", "must not be empty")
        }
        check(query.timeoutMs > 0, "query.timeout_ms", "must be > 0, found \(query.timeoutMs)")
        check(!http.enabled || http.isLoopback || http.tokenFile != nil, "http.token_file",
              "required when http.host (\(http.host)) is not a loopback address: every /v1 and /admin request must carry its bearer token")
        check(http.adminTokenFile == nil || http.tokenFile != nil, "http.admin_token_file",
              "needs http.token_file as well: without it /v1 would be open while /admin is protected")
        check(refresh.expiryBatch > 0, "refresh.expiry_batch", "must be > 0, found \(refresh.expiryBatch)")
        check(refresh.expiryIntervalSeconds > 0, "refresh.expiry_interval_seconds", "must be > 0, found \(refresh.expiryIntervalSeconds)")
        check(Self.parseDailyTime(refresh.dailyAt) != nil, "refresh.daily_at",
              "expected HH:MM (UTC), found '\(refresh.dailyAt)'")
        check(refresh.intervalSeconds >= 0, "refresh.interval_seconds", "must be ≥ 0, found \(refresh.intervalSeconds)")
        check(refresh.usersPerBatch > 0, "refresh.users_per_batch", "must be > 0, found \(refresh.usersPerBatch)")
        check(refresh.redirtyUsersPerSecond > 0, "refresh.redirty_users_per_second", "must be > 0, found \(refresh.redirtyUsersPerSecond)")
        check(output.format != .jsonSchemaRegistry || (1...Int(Int32.max)).contains(output.schemaID), "output.schema_id",
              "output.format json_schema_registry needs the registered schema id (1…2147483647), found \(output.schemaID)")
        check((0...65535).contains(http.port), "http.port", "expected 0…65535 (0: any free port), found \(http.port)")
        return out
    }

    /// Minutes after midnight UTC for `HH:MM`.
    public static func parseDailyTime(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h),
              (0..<60).contains(m), parts[1].count == 2 else { return nil }
        return h * 60 + m
    }
}
