import CRdKafka
import Logging

/// What a librdkafka handle reports back to Swift. Each client type installs the callbacks it needs.
///
/// Threading: `log` and `error` may be called from librdkafka's internal threads; `statistics`, `rebalance`
/// and `delivery` are called on the thread that polls the handle (the client's poll thread, or the thread that
/// closes it). Implementations only touch lock-protected state.
class RDKafkaEventSink: @unchecked Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    func log(level: Int32, facility: String, message: String) {
        let swiftLevel: Logger.Level
        switch level {
        // librdkafka uses syslog levels. Connection failures are logged at 3 and retried by librdkafka itself,
        // so nothing it logs is an error of ours: 0-3 warning, 4-5 notice, 6 info, 7 debug.
        case ...3: swiftLevel = .warning
        case 4, 5: swiftLevel = .notice
        case 6: swiftLevel = .info
        default: swiftLevel = .debug
        }
        logger.log(level: swiftLevel, "librdkafka: \(message)", metadata: ["facility": "\(facility)"])
    }

    func error(_ error: KafkaError) {
        // Transient errors (a broker connection dropped) are retried by librdkafka and already in its log.
        let level: Logger.Level = error.isFatal ? .error : (error.code == .allBrokersDown ? .warning : .debug)
        logger.log(level: level, "kafka client error", metadata: ["error": "\(error)"])
    }

    func statistics(_ json: UnsafeBufferPointer<CChar>) {}

    func rebalance(_ kafka: OpaquePointer, _ err: rd_kafka_resp_err_t,
                   _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {}

    func delivery(_ message: UnsafePointer<rd_kafka_message_t>) {}
}

/// Owns one `rd_kafka_t` and the sink its callbacks report to. The handle is destroyed when the last reference
/// goes away. librdkafka handles are thread-safe; this wrapper adds no state of its own.
final class RDKafkaClient: @unchecked Sendable {
    enum Kind { case producer, consumer }

    let kafka: OpaquePointer
    let sink: RDKafkaEventSink
    private let sinkReference: Unmanaged<RDKafkaEventSink>

    init(kind: Kind, properties: [(String, String)], sink: RDKafkaEventSink, context: String) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(properties, context: context)
        let reference = Unmanaged.passRetained(sink)
        rd_kafka_conf_set_opaque(conf, reference.toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdkafkaErrorCallback)
        rd_kafka_conf_set_stats_cb(conf, rdkafkaStatisticsCallback)
        switch kind {
        case .consumer: rd_kafka_conf_set_rebalance_cb(conf, rdkafkaRebalanceCallback)
        case .producer: rd_kafka_conf_set_dr_msg_cb(conf, rdkafkaDeliveryCallback)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        let type = kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            reference.release()
            throw KafkaError.invalid(String(cBuffer: errstr), context: context)
        }
        // rd_kafka_new owns conf from here on.
        kafka = handle
        self.sink = sink
        sinkReference = reference
    }

    deinit {
        rd_kafka_destroy(kafka)
        sinkReference.release()
    }

    /// The fatal error that made this client unusable, if one happened.
    var fatalError: KafkaError? {
        var buffer = [CChar](repeating: 0, count: 512)
        let code = rd_kafka_fatal_error(kafka, &buffer, buffer.count)
        guard code.rawValue != 0 else { return nil }
        return KafkaError(code: .init(rawValue: code.rawValue), message: String(cBuffer: buffer),
                          context: "fatal client error", isFatal: true, isRetriable: false)
    }
}

private func sink(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaEventSink? {
    guard let opaque else { return nil }
    return Unmanaged<RDKafkaEventSink>.fromOpaque(opaque).takeUnretainedValue()
}

private let rdkafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?)
    -> Void = { kafka, level, facility, message in
        guard let kafka, let target = sink(rd_kafka_opaque(kafka)) else { return }
        target.log(level: level, facility: facility.map { String(cString: $0) } ?? "",
                   message: message.map { String(cString: $0) } ?? "")
    }

private let rdkafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?,
                                                  UnsafeMutableRawPointer?) -> Void = { kafka, code, reason, opaque in
    guard let target = sink(opaque) else { return }
    var error = KafkaError(code: .init(rawValue: code), message: reason.map { String(cString: $0) },
                           context: "client")
    if error.code == .fatal, let kafka {
        var buffer = [CChar](repeating: 0, count: 512)
        let underlying = rd_kafka_fatal_error(kafka, &buffer, buffer.count)
        error = KafkaError(code: .init(rawValue: underlying.rawValue), message: String(cBuffer: buffer),
                           context: "client", isFatal: true, isRetriable: false)
    }
    target.error(error)
}

private let rdkafkaStatisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int,
                                                       UnsafeMutableRawPointer?) -> Int32 = { _, json, length, opaque in
    if let json, let target = sink(opaque) {
        target.statistics(UnsafeBufferPointer(start: json, count: length))
    }
    return 0  // librdkafka frees the JSON
}

private let rdkafkaRebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t,
                                                      UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
                                                      UnsafeMutableRawPointer?) -> Void = { kafka, err, list, opaque in
    guard let kafka, let list, let target = sink(opaque) else { return }
    target.rebalance(kafka, err, list)
}

private let rdkafkaDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?,
                                                     UnsafeMutableRawPointer?) -> Void = { _, message, opaque in
    guard let message, let target = sink(opaque) else { return }
    target.delivery(message)
}
