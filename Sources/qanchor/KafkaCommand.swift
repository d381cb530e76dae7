import ArgumentParser
import Foundation
import Synchronization
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

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be > 0, got \(timeout)") }
        guard records > 0 else { throw ValidationError("--records must be > 0, got \(records)") }
        guard partitions > 0 else { throw ValidationError("--partitions must be > 0, got \(partitions)") }
    }

    func run() async throws {
        // librdkafka's own complaints (a broker that refuses connections logs one line per retry) stay out of the
        // way: the summary names the stage that failed and why.
        var logger = Logger(label: "qanchor.kafka")
        logger.logLevel = .critical
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
        let ownTopic = self.topic == nil
        let topic = self.topic ?? "qanchor.check.\(UUID().uuidString.prefix(8).lowercased())"
        let group = "qanchor-check-\(UUID().uuidString.prefix(8).lowercased())"
        let started = ContinuousClock.now
        let deadline = started + .seconds(timeout)
        let stage = CheckStage()
        let check = Task { () throws -> CheckFigures in
            try await roundTrip(client: client, topic: topic, group: group, deadline: deadline, stage: stage, logger: logger)
        }
        // The whole check is bounded by --timeout, whatever stage it is in.
        let watchdog = Task {
            try await Task.sleep(until: deadline)
            check.cancel()
        }
        var summary: [String: Any]
        do {
            summary = try await check.value.json
        } catch {
            // A stage's own librdkafka timeout is the time left, so it may fire a moment before the deadline.
            let what = Task.isCancelled || ContinuousClock.now >= deadline - .milliseconds(500)
                ? "timed out after \(timeout) s" : "\(error)"
            summary = ["ok": false, "error": "\(stage.name): \(what)"]
        }
        watchdog.cancel()
        // Leave nothing behind: the group, and the topic when the check created it (best effort, 10 s at most).
        // What exists depends on how far the check got: nothing before the topic was created, no group before consuming.
        var cleanup: [String] = []
        let reached = stage.name, ok = summary["ok"] as? Bool == true
        if reached != "create topic" || ok, let admin = try? KafkaAdminClient(configuration: client, logger: logger) {
            if ok || reached == "consume" || reached == "commit" {
                do { try await admin.deleteGroups([group], timeout: .seconds(5)) } catch { cleanup.append("group \(group): \(error.code.name)") }
            }
            if ownTopic {
                do { try await admin.deleteTopics([topic], timeout: .seconds(5)) } catch { cleanup.append("topic \(topic): \(error.code.name)") }
            }
            await admin.close()
        }
        summary["topic"] = topic
        summary["group"] = group
        summary["left_behind"] = cleanup
        summary["total_seconds"] = (ContinuousClock.now - started).seconds
        summary["librdkafka"] = KafkaRuntime.version
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        FileHandle.standardOutput.write(json + Data("\n".utf8))
        if summary["ok"] as? Bool != true { throw ExitCode(1) }
    }

    /// Creates the topic, produces `records` keyed records with a header, reads them back through a new group and
    /// commits; `stage` names the step in progress (for a timeout). Returns the figures of the summary.
    private func roundTrip(client: KafkaClientConfiguration, topic: String, group: String, deadline: ContinuousClock.Instant,
                           stage: CheckStage, logger: Logger) async throws -> CheckFigures {
        func remaining() -> Duration { max(.milliseconds(100), deadline - ContinuousClock.now) }
        let admin = try KafkaAdminClient(configuration: client, logger: logger)
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: partitions)], timeout: remaining())
        let metadata = try await admin.metadata(topics: [topic], timeout: remaining())
        await admin.close()
        let partitionCount = metadata.topic(topic)?.partitions.count ?? 0

        stage.name = "produce"
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client, messageTimeout: remaining()),
                                         logger: logger)
        let produceStart = ContinuousClock.now
        let count = records
        let results = await producer.sendAll((0..<count).map { i in
            KafkaProducerRecord(topic: topic, key: "user-\(i % 97)", value: Array("{\"seq\":\(i)}".utf8),
                                headers: [KafkaHeader("qanchor-check", "1")])
        })
        try? await producer.close(timeout: .seconds(1))
        if let failure = results.first(where: { if case .failure = $0 { return true } else { return false } }),
           case .failure(let error) = failure {
            throw error
        }
        let produceSeconds = (ContinuousClock.now - produceStart).seconds

        stage.name = "consume"
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: group, sessionTimeout: .seconds(6), autoOffsetReset: .earliest), logger: logger)
        try consumer.subscribe([topic])
        let consumeStart = ContinuousClock.now
        var seen = Set<Int>()
        var positions: [KafkaTopicPartition: Int64] = [:]
        var headersOK = true
        await withTaskCancellationHandler {
            for await event in consumer.events {
                if case .records(let batch) = event {
                    for record in batch {
                        if let text = record.value.map({ String(decoding: $0, as: UTF8.self) }),
                           let seq = Int(text.dropFirst("{\"seq\":".count).dropLast()) { seen.insert(seq) }
                        headersOK = headersOK && record.headers.string("qanchor-check") == "1"
                        positions[record.topicPartition] = record.offset + 1
                    }
                }
                if seen.count >= count { break }
            }
        } onCancel: {
            Task { await consumer.close() }
        }
        try Task.checkCancellation()
        let consumeSeconds = (ContinuousClock.now - consumeStart).seconds
        stage.name = "commit"
        try await consumer.commit(positions)
        await consumer.close()
        return CheckFigures(partitions: partitionCount, produced: count, consumed: seen.count, headersIntact: headersOK,
                            produceSeconds: produceSeconds, consumeSeconds: consumeSeconds)
    }
}

/// What a `kafka check` round trip measured.
struct CheckFigures: Sendable {
    let partitions: Int, produced: Int, consumed: Int, headersIntact: Bool, produceSeconds: Double, consumeSeconds: Double
    var json: [String: Any] {
        ["ok": consumed == produced && headersIntact, "partitions": partitions, "records_produced": produced,
         "records_consumed": consumed, "headers_intact": headersIntact, "produce_seconds": produceSeconds,
         "consume_seconds_including_group_join": consumeSeconds]
    }
}

/// The step `kafka check` is in, for a timeout's message.
final class CheckStage: Sendable {
    private let current = Mutex("create topic")
    var name: String {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
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
                                                     scenarios: manifest.scenarios.map(\.id) + c.scenarios.extra.map(\.id),
                                                     partitions: partitions,
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
