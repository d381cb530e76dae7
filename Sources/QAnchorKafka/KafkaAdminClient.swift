import CRdKafka
import Logging

/// A topic to create.
public struct KafkaTopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int32
    public var replicationFactor: Int32
    /// Topic configs, e.g. `cleanup.policy=compact`, `retention.ms`.
    public var configs: [String: String]

    public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// The cluster as a metadata response describes it.
public struct KafkaClusterMetadata: Sendable, Hashable {
    public struct Broker: Sendable, Hashable {
        public var id: Int32
        public var host: String
        public var port: Int32
    }
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
        /// The broker's error for this partition, if any.
        public var error: KafkaError.Code?
    }
    public struct Topic: Sendable, Hashable {
        public var name: String
        public var partitions: [Partition]
        /// The broker's error for this topic (e.g. unknown topic), if any.
        public var error: KafkaError.Code?
    }
    public var brokers: [Broker]
    public var topics: [Topic]

    public func topic(_ name: String) -> Topic? { topics.first { $0.name == name } }
}

/// Creates topics and reads cluster metadata.
///
/// Threading: requests block on GCD threads (never the cooperative pool); a poll thread serves the handle's
/// error and log events. All methods may be called from any thread or task. Call `close()` when done.
public final class KafkaAdminClient: Sendable {
    private let client: RDKafkaClient
    private let pollThread: RDKafkaPollThread

    public init(configuration: KafkaClientConfiguration,
                logger: Logger = Logger(label: "qanchor.kafka.admin")) throws(KafkaError) {
        let client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties
            + configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            sink: RDKafkaEventSink(logger: logger), context: "create admin client")
        self.client = client
        pollThread = RDKafkaPollThread(name: "qanchor-kafka-admin", body: { rd_kafka_poll(client.kafka, 100) })
    }

    deinit { pollThread.stop() }

    /// Creates topics. With `ignoreExisting`, a topic that already exists is not an error (its partition count
    /// is not checked here; compare with `metadata`).
    public func createTopics(_ topics: [KafkaTopicSpecification], ignoreExisting: Bool = true,
                             timeout: Duration = .seconds(30)) async throws(KafkaError) {
        let client = self.client
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            try Self.createTopicsBlocking(client.kafka, topics, ignoreExisting: ignoreExisting, timeout: timeout)
        }
    }

    private static func createTopicsBlocking(_ kafka: OpaquePointer, _ topics: [KafkaTopicSpecification],
                                             ignoreExisting: Bool, timeout: Duration) throws(KafkaError) {
        let context = "create topics \(topics.map(\.name).joined(separator: ","))"
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for spec in topics {
            guard let topic = rd_kafka_NewTopic_new(spec.name, spec.partitions, spec.replicationFactor,
                                                    &errstr, errstr.count) else {
                throw KafkaError.invalid(String(cBuffer: errstr), context: "create topic \(spec.name)")
            }
            newTopics.append(topic)
            for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(topic, key, value)
                if err.rawValue != 0 { throw KafkaError(err, context: "create topic \(spec.name): config \(key)") }
            }
        }
        try runAdmin(kafka, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout, context: context) { kafka, options, queue in
            var pointers = newTopics
            pointers.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(kafka, $0.baseAddress, $0.count, options, queue) }
        } results: { event throws(KafkaError) in
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError(code: .badMessage, message: "unexpected admin event", context: context)
            }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
            try Self.check(results, count: count, verb: "create",
                           ignoring: ignoreExisting ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS : RD_KAFKA_RESP_ERR_NO_ERROR)
        }
    }

    /// Throws the first per-topic error of an admin result (besides `ignoring`), naming the topic.
    private static func check(_ results: UnsafeMutablePointer<OpaquePointer?>, count: Int, verb: String,
                              ignoring: rd_kafka_resp_err_t) throws(KafkaError) {
        for i in 0..<count {
            guard let r = results[i] else { continue }
            let err = rd_kafka_topic_result_error(r)
            if err.rawValue == 0 || err.rawValue == ignoring.rawValue { continue }
            throw KafkaError(err, context: "\(verb) topic \(String(cString: rd_kafka_topic_result_name(r)))",
                             message: rd_kafka_topic_result_error_string(r).map { String(cString: $0) })
        }
    }

    /// Deletes topics (their records are gone for good). A topic that does not exist is not an error.
    public func deleteTopics(_ names: [String], timeout: Duration = .seconds(30)) async throws(KafkaError) {
        guard !names.isEmpty else { return }
        let client = self.client
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            let items = names.map { rd_kafka_DeleteTopic_new($0) }
            defer { for item in items { rd_kafka_DeleteTopic_destroy(item) } }
            try Self.runAdmin(client.kafka, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout: timeout,
                              context: "delete topics \(names.joined(separator: ","))") { kafka, options, queue in
                var pointers = items
                pointers.withUnsafeMutableBufferPointer { rd_kafka_DeleteTopics(kafka, $0.baseAddress, $0.count, options, queue) }
            } results: { event throws(KafkaError) in
                var count = 0
                guard let result = rd_kafka_event_DeleteTopics_result(event),
                      let topics = rd_kafka_DeleteTopics_result_topics(result, &count) else { return }
                try Self.check(topics, count: count, verb: "delete", ignoring: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            }
        }
    }

    /// Deletes consumer groups that have no members (their committed offsets go with them).
    public func deleteGroups(_ ids: [String], timeout: Duration = .seconds(30)) async throws(KafkaError) {
        guard !ids.isEmpty else { return }
        let client = self.client
        try await RDKafkaBlocking.run { () throws(KafkaError) -> Void in
            let items = ids.map { rd_kafka_DeleteGroup_new($0) }
            defer { for item in items { rd_kafka_DeleteGroup_destroy(item) } }
            try Self.runAdmin(client.kafka, RD_KAFKA_ADMIN_OP_DELETEGROUPS, timeout: timeout,
                              context: "delete groups \(ids.joined(separator: ","))") { kafka, options, queue in
                var pointers = items
                pointers.withUnsafeMutableBufferPointer { rd_kafka_DeleteGroups(kafka, $0.baseAddress, $0.count, options, queue) }
            } results: { event throws(KafkaError) in
                var count = 0
                guard let result = rd_kafka_event_DeleteGroups_result(event),
                      let groups = rd_kafka_DeleteGroups_result_groups(result, &count) else { return }
                for i in 0..<count {
                    guard let r = groups[i], let error = rd_kafka_group_result_error(r) else { continue }
                    throw KafkaError(code: .init(rawValue: rd_kafka_error_code(error).rawValue),
                                     message: String(cString: rd_kafka_error_string(error)),
                                     context: "delete group \(String(cString: rd_kafka_group_result_name(r)))")
                }
            }
        }
    }

    /// Runs one admin request: options with `timeout`, a private result queue, `submit`, then waits for its event and
    /// hands it to `results` (after checking the request-level error).
    private static func runAdmin(_ kafka: OpaquePointer, _ op: rd_kafka_admin_op_t, timeout: Duration, context: String,
                                 submit: (OpaquePointer, OpaquePointer?, OpaquePointer?) -> Void,
                                 results: (OpaquePointer) throws(KafkaError) -> Void) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        let queue = rd_kafka_queue_new(kafka)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(kafka, op)
        defer { rd_kafka_AdminOptions_destroy(options) }
        let ms = Int32(clamping: timeout.milliseconds)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
        if op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errstr, errstr.count)
        }
        submit(kafka, options, queue)
        guard let event = rd_kafka_queue_poll(queue, ms + 5000) else { throw KafkaError(code: .timedOut, context: context) }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err.rawValue != 0 {
            throw KafkaError(err, context: context, message: rd_kafka_event_error_string(event).map { String(cString: $0) })
        }
        try results(event)
    }

    /// Cluster metadata for the given topics (nil: all topics). Asking for a topic the broker auto-creates may
    /// create it.
    public func metadata(topics: [String]? = nil, timeout: Duration = .seconds(10))
        async throws(KafkaError) -> KafkaClusterMetadata {
        let client = self.client
        return try await RDKafkaBlocking.run { () throws(KafkaError) -> KafkaClusterMetadata in
            var all = try Self.metadataBlocking(client.kafka, timeout: timeout)
            if let topics { all.topics = all.topics.filter { topics.contains($0.name) } }
            return all
        }
    }

    private static func metadataBlocking(_ kafka: OpaquePointer, timeout: Duration) throws(KafkaError) -> KafkaClusterMetadata {
        var pointer: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(kafka, 1, nil, &pointer, Int32(clamping: timeout.milliseconds))
        guard err.rawValue == 0, let md = pointer else { throw KafkaError(err, context: "read metadata") }
        defer { rd_kafka_metadata_destroy(md) }
        let m = md.pointee
        let brokers = (0..<Int(m.broker_cnt)).map { i in
            let b = m.brokers[i]
            return KafkaClusterMetadata.Broker(id: b.id, host: String(cString: b.host), port: b.port)
        }
        let topics = (0..<Int(m.topic_cnt)).map { i -> KafkaClusterMetadata.Topic in
            let t = m.topics[i]
            let partitions = (0..<Int(t.partition_cnt)).map { j -> KafkaClusterMetadata.Partition in
                let p = t.partitions[j]
                return KafkaClusterMetadata.Partition(
                    id: p.id, leader: p.leader,
                    replicas: (0..<Int(p.replica_cnt)).map { p.replicas[$0] },
                    inSyncReplicas: (0..<Int(p.isr_cnt)).map { p.isrs[$0] },
                    error: p.err.rawValue == 0 ? nil : KafkaError.Code(rawValue: p.err.rawValue))
            }.sorted { $0.id < $1.id }
            return KafkaClusterMetadata.Topic(name: String(cString: t.topic), partitions: partitions,
                                              error: t.err.rawValue == 0 ? nil : KafkaError.Code(rawValue: t.err.rawValue))
        }.sorted { $0.name < $1.name }
        return KafkaClusterMetadata(brokers: brokers, topics: topics)
    }

    /// Stops the poll thread.
    public func close() async {
        pollThread.stop()
        await pollThread.join()
    }
}
