import QAnchorKafka

/// A rejected input record on its way to the dead-letter topic: the original key and value, unchanged, plus
/// headers naming where it came from and why it was rejected. The reason never quotes the record's text.
///
/// Headers: `qanchor-source-topic`, `qanchor-source-partition`, `qanchor-source-offset`, `qanchor-reason` (a stable
/// `EventRejection.Code`), `qanchor-detail` (human-readable), `qanchor-rejected-at` (ms since the epoch), plus the
/// source record's own headers. A source the dead-letter topic refuses for its size or content is sent without its
/// value and headers, with `qanchor-value-dropped` (see `recordWithoutValue`).
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
        KafkaProducerRecord(topic: topic, key: source.key, value: source.value, headers: source.headers + ownHeaders)
    }

    /// The record without the source's value and headers, for a source the dead-letter topic refuses (too large,
    /// or content the broker rejects): `qanchor-value-dropped` names the producer error. The origin headers still
    /// locate the original record in its topic.
    public func recordWithoutValue(topic: String, dropped: KafkaError.Code) -> KafkaProducerRecord {
        KafkaProducerRecord(topic: topic, key: source.key, value: nil,
                            headers: ownHeaders + [KafkaHeader("qanchor-value-dropped", dropped.name)])
    }

    /// Whether the dead-letter topic refused the record because of its content (size, format) — worth resending
    /// without the value — rather than for a reason every record would share (authorization, unknown topic).
    public static func isRefusedForContent(_ error: KafkaError) -> Bool {
        [.messageSizeTooLarge, .recordListTooLarge, .invalidRecord, .corruptMessage].contains(error.code)
    }

    private var ownHeaders: [KafkaHeader] {
        [
            KafkaHeader("qanchor-source-topic", source.topic),
            KafkaHeader("qanchor-source-partition", String(source.partition)),
            KafkaHeader("qanchor-source-offset", String(source.offset)),
            KafkaHeader("qanchor-reason", rejection.code.rawValue),
            KafkaHeader("qanchor-detail", rejection.detail),
            KafkaHeader("qanchor-rejected-at", String(rejectedAtMs)),
        ]
    }
}
