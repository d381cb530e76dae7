import ArgumentParser
import Foundation
import Logging
import QAnchorKafka
import QAnchorModel

/// `qanchor kafka …`: tools for the Kafka connection.
struct KafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Kafka tools: check the connection, create the daemon's topics.",
        subcommands: [KafkaCheckCommand.self, KafkaCreateTopicsCommand.self])
}

/// `qanchor kafka check`: a round trip through the broker with the same client code the daemon uses —
/// create a topic, produce keyed records with headers (idempotent), read them back through a consumer group,
/// commit, and print a summary.
struct KafkaCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Produce and consume through the broker, then print a summary (JSON).")

    @Option(help: "Bootstrap servers, comma-separated.")
    var bootstrap = "127.0.0.1:9092"

    @Option(help: "Topic to use (default: a new, unique one).")
    var topic: String?

    @Option(help: "Number of records.")
    var records = 1000

    @Option(help: "Partitions of the topic when it is created.")
    var partitions: Int32 = 3

    @Option(name: .customLong("property"), help: "librdkafka property key=value (repeatable; e.g. security.protocol=SASL_SSL).")
    var properties: [String] = []

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 60

    func run() async throws {
        var logger = Logger(label: "qanchor.kafka")
        logger.logLevel = .warning
        var extra: [String: String] = [:]
        for property in properties {
            guard let eq = property.firstIndex(of: "=") else {
                throw ValidationError("--property needs key=value, got '\(property)'")
            }
            extra[String(property[..<eq])] = String(property[property.index(after: eq)...])
        }
        let client = KafkaClientConfiguration(
            bootstrapServers: bootstrap.split(separator: ",").map(String.init), clientID: "qanchor-kafka-check",
            properties: extra)
        let topic = self.topic ?? "qanchor.check.\(UUID().uuidString.prefix(8).lowercased())"
        let started = ContinuousClock.now

        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: partitions)])
        let metadata = try await admin.metadata(topics: [topic])
        await admin.close()
        let partitionCount = metadata.topic(topic)?.partitions.count ?? 0

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        let produceStart = ContinuousClock.now
        let count = records
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask {
                    try await producer.send(KafkaProducerRecord(
                        topic: topic, key: "user-\(i % 97)", value: Array("{\"seq\":\(i)}".utf8),
                        headers: [KafkaHeader("qanchor-check", "1")]))
                }
            }
            try await group.waitForAll()
        }
        try await producer.close()
        let produceSeconds = (ContinuousClock.now - produceStart).seconds

        let group = "qanchor-check-\(UUID().uuidString.prefix(8).lowercased())"
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: group, sessionTimeout: .seconds(6), autoOffsetReset: .earliest), logger: logger)
        try consumer.subscribe([topic])
        let consumeStart = ContinuousClock.now
        var seen = Set<Int>()
        var positions: [KafkaTopicPartition: Int64] = [:]
        var headersOK = true
        let deadline = ContinuousClock.now + .seconds(timeout)
        let events = consumer.events
        let reader = Task {
            for await event in events {
                if case .records(let batch) = event {
                    for record in batch {
                        if let text = record.value.map({ String(decoding: $0, as: UTF8.self) }),
                           let seq = Int(text.dropFirst("{\"seq\":".count).dropLast()) { seen.insert(seq) }
                        headersOK = headersOK && record.headers.string("qanchor-check") == "1"
                        positions[record.topicPartition] = record.offset + 1
                    }
                }
                if seen.count >= count || ContinuousClock.now > deadline { break }
            }
            return (seen, positions, headersOK)
        }
        let watchdog = Task {
            try await Task.sleep(for: .seconds(timeout))
            await consumer.close()
        }
        let (received, committedPositions, headersIntact) = await reader.value
        let consumeSeconds = (ContinuousClock.now - consumeStart).seconds
        try await consumer.commit(committedPositions)
        watchdog.cancel()
        await consumer.close()

        let ok = received.count == count && headersIntact
        let summary: [String: Any] = [
            "ok": ok, "topic": topic, "partitions": partitionCount, "records_produced": count,
            "records_consumed": received.count, "headers_intact": headersIntact,
            "produce_seconds": produceSeconds, "consume_seconds_including_group_join": consumeSeconds,
            "total_seconds": (ContinuousClock.now - started).seconds, "librdkafka": KafkaRuntime.version,
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        FileHandle.standardOutput.write(json + Data("\n".utf8))
        if !ok { throw ExitCode(1) }
    }
}

/// `qanchor kafka create-topics --config FILE`: create the daemon's input, output and dead-letter topics (inputs
/// co-partitioned: the same partition count). Existing topics are left as they are.
struct KafkaCreateTopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-topics", abstract: "Create the input, output and dead-letter topics of a configuration.")

    @Option(help: "The daemon's YAML configuration (QANCHOR_* environment overrides apply).")
    var config: String?

    @Option(help: "Partitions of every topic.")
    var partitions: Int32 = 6

    func run() async throws {
        let c = try await DaemonSetup.load(config)
        let manifest = try BundleManifest.load(bundleDirectory: URL(fileURLWithPath: c.model.bundle))
        let specifications = c.topics.specifications(modalities: manifest.modalities.map(\.name),
                                                     scenarios: manifest.scenarios.map(\.id), partitions: partitions,
                                                     includeInputs: true, group: c.kafka.groupID,
                                                     changelogEnabled: c.scaling.changelog)
        var logger = Logger(label: "qanchor.kafka")
        logger.logLevel = .warning
        let admin = try KafkaAdminClient(configuration: KafkaClientConfiguration(
            bootstrapServers: c.kafka.bootstrapServers, clientID: c.kafka.clientID, properties: c.kafka.properties),
            logger: logger)
        try await admin.createTopics(specifications)
        let metadata = try await admin.metadata(topics: specifications.map(\.name))
        await admin.close()
        for topic in metadata.topics { Standard.output("\(topic.name)\t\(topic.partitions.count) partitions") }
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
