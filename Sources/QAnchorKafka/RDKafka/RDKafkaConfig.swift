import CRdKafka

/// Builds an `rd_kafka_conf_t` from key/value pairs; the first property librdkafka rejects becomes a `KafkaError`
/// naming the key (never its value: it may be a secret).
enum RDKafkaConfig {
    static func make(_ properties: [(String, String)], context: String) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalid("rd_kafka_conf_new failed", context: context)
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(cBuffer: errstr)
                throw KafkaError.invalid("property '\(key)': \(reason)", context: context)
            }
        }
        return conf
    }
}

/// librdkafka's version at run time (the loaded library, not the headers we compiled against).
public enum KafkaRuntime {
    /// e.g. "2.16.0".
    public static var version: String { String(cString: rd_kafka_version_str()) }
    /// `0xMMmmrrxx` as librdkafka encodes it.
    public static var versionNumber: Int32 { rd_kafka_version() }
    /// The oldest runtime known to talk to current brokers (Debian 12's 2.0.2 cannot: ApiVersions v3).
    public static let minimumBrokerCompatibleVersion: Int32 = 0x0203_0000
    /// Whether the loaded runtime is new enough for real brokers (the mock cluster works with any).
    public static var isBrokerCompatible: Bool { versionNumber >= minimumBrokerCompatibleVersion }
}

extension String {
    /// The NUL-terminated text in a C buffer librdkafka filled (error strings).
    init(cBuffer buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
