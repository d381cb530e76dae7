import CRdKafka

/// An error from the Kafka layer: librdkafka's error code and message, what we were doing when it happened, and
/// whether it is fatal (the client must be recreated) or retriable (the same operation may succeed later).
///
/// Value type; `Sendable`. Every throwing API of `QAnchorKafka` throws this type only.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative: client-side, positive: broker error codes).
    public var code: Code
    /// librdkafka's description of the error, or ours when the error is not librdkafka's.
    public var message: String
    /// What the client was doing ("create topic events.bill", "commit offsets").
    public var context: String
    /// The client instance is unusable and must be recreated (e.g. an idempotent producer's fatal error).
    public var isFatal: Bool
    /// The operation may succeed if tried again (transport errors, timeouts, leader changes, full queues).
    public var isRetriable: Bool

    public init(code: Code, message: String? = nil, context: String, isFatal: Bool? = nil, isRetriable: Bool? = nil) {
        self.code = code
        self.message = message ?? code.librdkafkaDescription
        self.context = context
        self.isFatal = isFatal ?? (code == .fatal)
        self.isRetriable = isRetriable ?? code.isRetriableByDefault
    }

    init(_ raw: rd_kafka_resp_err_t, context: String, message: String? = nil) {
        self.init(code: Code(rawValue: raw.rawValue), message: message, context: context)
    }

    /// An error that is not librdkafka's (bad configuration value, invalid argument).
    static func invalid(_ message: String, context: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: message, context: context, isFatal: false, isRetriable: false)
    }

    public var description: String {
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if isRetriable { flags.append("retriable") }
        let suffix = flags.isEmpty ? "" : " [\(flags.joined(separator: ", "))]"
        return "\(context): \(code.name) (\(code.rawValue)): \(message)\(suffix)"
    }

    /// A librdkafka error code. Named constants cover the codes this project reacts to; any other code is still
    /// representable and named by librdkafka.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let noError = Code(rawValue: RD_KAFKA_RESP_ERR_NO_ERROR.rawValue)
        public static let badMessage = Code(rawValue: RD_KAFKA_RESP_ERR__BAD_MSG.rawValue)
        public static let destroyed = Code(rawValue: RD_KAFKA_RESP_ERR__DESTROY.rawValue)
        public static let transport = Code(rawValue: RD_KAFKA_RESP_ERR__TRANSPORT.rawValue)
        public static let allBrokersDown = Code(rawValue: RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue)
        public static let messageTimedOut = Code(rawValue: RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue)
        public static let partitionEOF = Code(rawValue: RD_KAFKA_RESP_ERR__PARTITION_EOF.rawValue)
        public static let unknownPartition = Code(rawValue: RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue)
        public static let unknownTopic = Code(rawValue: RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC.rawValue)
        public static let invalidArgument = Code(rawValue: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue)
        public static let timedOut = Code(rawValue: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue)
        public static let queueFull = Code(rawValue: RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue)
        public static let state = Code(rawValue: RD_KAFKA_RESP_ERR__STATE.rawValue)
        public static let fatal = Code(rawValue: RD_KAFKA_RESP_ERR__FATAL.rawValue)
        public static let noOffset = Code(rawValue: RD_KAFKA_RESP_ERR__NO_OFFSET.rawValue)
        /// A fetch position is out of range and `auto.offset.reset` is `error`.
        public static let autoOffsetReset = Code(rawValue: RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue)
        public static let outdated = Code(rawValue: RD_KAFKA_RESP_ERR__OUTDATED.rawValue)
        public static let timedOutQueue = Code(rawValue: RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE.rawValue)
        public static let unknownTopicOrPartition = Code(rawValue: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue)
        public static let leaderNotAvailable = Code(rawValue: RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue)
        public static let notLeaderForPartition = Code(rawValue: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue)
        public static let requestTimedOut = Code(rawValue: RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue)
        public static let networkException = Code(rawValue: RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue)
        public static let coordinatorLoadInProgress = Code(rawValue: RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS.rawValue)
        public static let coordinatorNotAvailable = Code(rawValue: RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue)
        public static let notCoordinator = Code(rawValue: RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue)
        public static let notEnoughReplicas = Code(rawValue: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue)
        public static let notEnoughReplicasAfterAppend = Code(rawValue: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND.rawValue)
        public static let topicAlreadyExists = Code(rawValue: RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue)
        public static let rebalanceInProgress = Code(rawValue: RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue)
        public static let illegalGeneration = Code(rawValue: RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION.rawValue)
        public static let unknownMemberID = Code(rawValue: RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID.rawValue)
        public static let fencedInstanceID = Code(rawValue: RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID.rawValue)
        public static let messageSizeTooLarge = Code(rawValue: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue)
        public static let recordListTooLarge = Code(rawValue: RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue)
        public static let invalidRecord = Code(rawValue: RD_KAFKA_RESP_ERR_INVALID_RECORD.rawValue)
        public static let corruptMessage = Code(rawValue: RD_KAFKA_RESP_ERR_INVALID_MSG.rawValue)

        /// librdkafka's symbolic name, e.g. `_TRANSPORT` or `NOT_LEADER_FOR_PARTITION`.
        public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue))) }
        /// librdkafka's human-readable text for the code.
        public var librdkafkaDescription: String {
            String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: rawValue)))
        }
        public var description: String { name }

        var raw: rd_kafka_resp_err_t { rd_kafka_resp_err_t(rawValue: rawValue) }

        /// Codes that describe a transient condition.
        var isRetriableByDefault: Bool {
            Self.retriable.contains(self)
        }
        private static let retriable: Set<Code> = [
            .transport, .allBrokersDown, .messageTimedOut, .timedOut, .queueFull, .timedOutQueue,
            .leaderNotAvailable, .notLeaderForPartition, .requestTimedOut, .networkException,
            .coordinatorLoadInProgress, .coordinatorNotAvailable, .notCoordinator, .notEnoughReplicas,
            .notEnoughReplicasAfterAppend, .rebalanceInProgress, .unknownTopicOrPartition,
        ]
    }
}
