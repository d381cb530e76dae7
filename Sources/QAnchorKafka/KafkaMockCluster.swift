import CRdKafka
import Logging

/// librdkafka's in-process mock Kafka cluster, for fast tests and fault injection (brokers going down, request
/// errors, topic errors). Not a real broker: end-to-end tests use a real one.
///
/// Threading: the cluster runs on librdkafka's own threads; all methods may be called from any thread.
/// The cluster lives until this object is released.
public final class KafkaMockCluster: @unchecked Sendable {
    private let host: RDKafkaClient
    private let cluster: OpaquePointer
    /// `bootstrap.servers` for clients of this cluster.
    public let bootstrapServers: [String]

    public init(brokers: Int = 1, logger: Logger = Logger(label: "qanchor.kafka.mock")) throws(KafkaError) {
        host = try RDKafkaClient(kind: .producer, properties: [("client.id", "qanchor-mock-host")],
                                 sink: RDKafkaEventSink(logger: logger), context: "create mock cluster host")
        guard let cluster = rd_kafka_mock_cluster_new(host.kafka, Int32(brokers)) else {
            throw KafkaError.invalid("rd_kafka_mock_cluster_new failed", context: "create mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster)).split(separator: ",").map(String.init)
    }

    deinit { rd_kafka_mock_cluster_destroy(cluster) }

    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        if err.rawValue != 0 { throw KafkaError(err, context: "mock: create topic \(name)") }
    }

    /// Takes a broker down (connections are closed and refused) or brings it back.
    public func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let err = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id)
        if err.rawValue != 0 { throw KafkaError(err, context: "mock: set broker \(id) \(up ? "up" : "down")") }
    }

    /// The next requests of this API (e.g. `0` Produce, `1` Fetch, `8` OffsetCommit) fail with these errors,
    /// one per request, in order.
    public func pushRequestErrors(apiKey: Int16, _ errors: [KafkaError.Code]) {
        var raw = errors.map(\.raw)
        raw.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }

    /// Every request for this topic fails with `code` until cleared with `.noError`.
    public func setTopicError(_ topic: String, _ code: KafkaError.Code) {
        rd_kafka_mock_topic_set_error(cluster, topic, code.raw)
    }

    /// Adds round-trip latency to a broker.
    public func setBroker(_ id: Int32, roundTripTime: Duration) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_rtt(cluster, id, Int32(clamping: roundTripTime.milliseconds))
        if err.rawValue != 0 { throw KafkaError(err, context: "mock: set broker \(id) rtt") }
    }
}
