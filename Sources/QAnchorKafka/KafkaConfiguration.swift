/// What consumers, producers and admin clients share: where the brokers are, who we are, and any librdkafka
/// property passed through verbatim (SASL/SSL included).
///
/// Value type; `Sendable`. `properties` are applied last, so they override every typed setting.
public struct KafkaClientConfiguration: Sendable, Hashable {
    /// `bootstrap.servers`: `host:port` entries.
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and metrics.
    public var clientID: String
    /// `statistics.interval.ms`; nil turns statistics off. Consumers turn them into per-partition lag.
    public var statisticsInterval: Duration?
    /// Any librdkafka property (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md), e.g.
    /// `security.protocol`, `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`, `debug`.
    public var properties: [String: String]

    public init(bootstrapServers: [String], clientID: String = "qanchor", statisticsInterval: Duration? = nil,
                properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.statisticsInterval = statisticsInterval
        self.properties = properties
    }

    var librdkafkaProperties: [(String, String)] {
        var out: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("client.id", clientID),
        ]
        if let statisticsInterval { out.append(("statistics.interval.ms", String(statisticsInterval.milliseconds))) }
        return out
    }

    /// The pass-through properties with secret values replaced by `[redacted]`, for logs and `config check`.
    public var redactedProperties: [String: String] {
        properties.reduce(into: [:]) { out, entry in
            out[entry.key] = Self.isSecret(entry.key) ? "[redacted]" : entry.value
        }
    }

    /// Whether a librdkafka property holds a secret (passwords, keys, tokens, OAuth configuration).
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return ["password", "secret", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key", "ssl.keystore",
                "token", "credentials"].contains { k.contains($0) }
    }
}

/// Consumer settings. Auto-commit and automatic offset store are always off: the application decides what is
/// stored and committed. Assignment strategy defaults to `cooperative-sticky` (incremental rebalancing).
///
/// Value type; `Sendable`.
public struct KafkaConsumerConfiguration: Sendable, Hashable {
    public var client: KafkaClientConfiguration
    /// `group.id`; nil for a consumer that only uses manual assignment.
    public var groupID: String?
    /// `group.instance.id` (static membership): a restarted member with the same id gets its partitions back
    /// without a rebalance, within `sessionTimeout`.
    public var groupInstanceID: String?
    /// `session.timeout.ms`.
    public var sessionTimeout: Duration
    /// `max.poll.interval.ms`. The consumer's own poll thread keeps polling, so this bounds only how long a
    /// rebalance callback (the application's `KafkaRebalanceHandler`) may take.
    public var maxPollInterval: Duration
    /// `partition.assignment.strategy`.
    public var assignmentStrategy: String
    /// `auto.offset.reset`: where to start when a partition has no committed offset.
    public var autoOffsetReset: KafkaAutoOffsetReset
    /// Emit `.endOfPartition` events when the consumer reaches the end of a partition (`enable.partition.eof`).
    public var reportsEndOfPartition: Bool
    /// The most records delivered in one `.records` event.
    public var maxBatchSize: Int
    /// Flow control: when more records than `pauseAbove` are delivered but not yet taken by the application,
    /// the consumer pauses its assigned partitions (and keeps polling, so the group membership stays alive);
    /// it resumes them when the backlog falls to `resumeBelow`.
    public var pauseAbove: Int
    public var resumeBelow: Int

    public init(client: KafkaClientConfiguration, groupID: String?, groupInstanceID: String? = nil,
                sessionTimeout: Duration = .seconds(45), maxPollInterval: Duration = .seconds(300),
                assignmentStrategy: String = "cooperative-sticky",
                autoOffsetReset: KafkaAutoOffsetReset = .earliest, reportsEndOfPartition: Bool = false,
                maxBatchSize: Int = 1000, pauseAbove: Int = 20_000, resumeBelow: Int = 5_000) {
        self.client = client
        self.groupID = groupID
        self.groupInstanceID = groupInstanceID
        self.sessionTimeout = sessionTimeout
        self.maxPollInterval = maxPollInterval
        self.assignmentStrategy = assignmentStrategy
        self.autoOffsetReset = autoOffsetReset
        self.reportsEndOfPartition = reportsEndOfPartition
        self.maxBatchSize = maxBatchSize
        self.pauseAbove = pauseAbove
        self.resumeBelow = resumeBelow
    }

    var librdkafkaProperties: [(String, String)] {
        var out = client.librdkafkaProperties
        // librdkafka needs a group id even for a consumer that only assigns manually and never commits.
        out.append(("group.id", groupID ?? "qanchor-manual-\(clientInstanceSuffix())"))
        if let groupInstanceID { out.append(("group.instance.id", groupInstanceID)) }
        out += [
            ("session.timeout.ms", String(sessionTimeout.milliseconds)),
            ("max.poll.interval.ms", String(maxPollInterval.milliseconds)),
            ("partition.assignment.strategy", assignmentStrategy),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("enable.partition.eof", reportsEndOfPartition ? "true" : "false"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ]
        return out + client.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// `auto.offset.reset` values.
public enum KafkaAutoOffsetReset: String, Sendable, Hashable {
    case earliest, latest
    /// Report an error instead of guessing.
    case error
}

/// Producer settings. Idempotent by default (`enable.idempotence=true`, hence `acks=all`): retries never
/// duplicate or reorder records within a partition.
///
/// Value type; `Sendable`.
public struct KafkaProducerConfiguration: Sendable, Hashable {
    public var client: KafkaClientConfiguration
    /// `enable.idempotence`.
    public var idempotent: Bool
    /// `message.timeout.ms`: how long a record may wait for delivery before it fails.
    public var messageTimeout: Duration
    /// `linger.ms`: how long to wait to fill a batch.
    public var linger: Duration
    /// `compression.type` (none, gzip, snappy, lz4, zstd).
    public var compression: String
    /// `queue.buffering.max.messages`: when that many records wait for delivery, `send` waits for room.
    public var maxQueuedMessages: Int

    public init(client: KafkaClientConfiguration, idempotent: Bool = true, messageTimeout: Duration = .seconds(300),
                linger: Duration = .milliseconds(5), compression: String = "lz4", maxQueuedMessages: Int = 100_000) {
        self.client = client
        self.idempotent = idempotent
        self.messageTimeout = messageTimeout
        self.linger = linger
        self.compression = compression
        self.maxQueuedMessages = maxQueuedMessages
    }

    var librdkafkaProperties: [(String, String)] {
        var out = client.librdkafkaProperties
        out += [
            ("enable.idempotence", idempotent ? "true" : "false"),
            ("message.timeout.ms", String(messageTimeout.milliseconds)),
            ("linger.ms", String(linger.milliseconds)),
            ("compression.type", compression),
            ("queue.buffering.max.messages", String(maxQueuedMessages)),
        ]
        return out + client.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, at least 0.
    var milliseconds: Int64 {
        let (s, attos) = components
        return max(0, s * 1000 + attos / 1_000_000_000_000_000)
    }
}

private func clientInstanceSuffix() -> String {
    String(UInt64.random(in: 0...UInt64.max), radix: 36)
}
