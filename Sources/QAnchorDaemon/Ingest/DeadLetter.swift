import QAnchorKafka

/// A rejected input record on its way to the dead-letter topic: the original key and value, unchanged, plus
/// headers naming where it came from and why it was rejected. The reason never quotes the record's text.
///
/// Headers: `qanchor-source-topic`, `qanchor-source-partition`, `qanchor-source-offset`, `qanchor-reason` (a stable
/// `EventRejection.Code`), `qanchor-detail` (human-readable), `qanchor-rejected-at` (ms since the epoch), plus the
/// source record's own headers.
public struct DeadLetter: Sendable, Hashable {
    public var source: KafkaConsumerRecord
    public var rejection: EventRejection
    public var rejectedAtMs: Int64

    public init(source: KafkaConsumerRecord, rejection: EventRejection, rejectedAtMs: Int64) {
        self.source = source
        self.rejection = rejection
        self.rejectedAtMs = rejectedAtMs
    }

    /// The record to produce to `topic`. Keyed like the source so a user's rejections stay together.
    public func record(topic: String) -> KafkaProducerRecord {
        KafkaProducerRecord(
            topic: topic, key: source.key, value: source.value,
            headers: source.headers + [
                KafkaHeader("qanchor-source-topic", source.topic),
                KafkaHeader("qanchor-source-partition", String(source.partition)),
                KafkaHeader("qanchor-source-offset", String(source.offset)),
                KafkaHeader("qanchor-reason", rejection.code.rawValue),
                KafkaHeader("qanchor-detail", rejection.detail),
                KafkaHeader("qanchor-rejected-at", String(rejectedAtMs)),
            ])
    }
}
