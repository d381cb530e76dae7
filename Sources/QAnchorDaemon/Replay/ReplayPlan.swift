import Foundation
import QAnchorKafka

/// What `qanchor replay` is asked to read: a time range (Kafka record timestamps) or an offset range, over some or
/// all partitions of some or all input topics. Unset bounds mean "from the oldest record" / "to the end".
public struct ReplayRequest: Sendable, Equatable {
    /// One end of the range.
    public enum Bound: Sendable, Equatable {
        /// Milliseconds since the epoch: the first record at or after this time (record timestamps).
        case time(Int64)
        /// An offset, the same for every selected partition (clamped to each partition's log).
        case offset(Int64)
    }

    public var from: Bound?
    public var to: Bound?
    /// Partition numbers to read; nil = all.
    public var partitions: Set<Int32>?
    /// Modality names to read; nil = all of the bundle's.
    public var modalities: Set<String>?

    public init(from: Bound? = nil, to: Bound? = nil, partitions: Set<Int32>? = nil, modalities: Set<String>? = nil) {
        self.from = from
        self.to = to
        self.partitions = partitions
        self.modalities = modalities
    }
}

/// The offsets a replay reads, decided before anything is read (the dry-run output). Records outside
/// `[fromMs, toMs)` by their Kafka timestamp are skipped even inside the offset ranges, so the plan stays right
/// when a broker resolves times coarsely.
///
/// Invariant: per range `startOffset ≤ endOffset` when `endOffset` is set; nil `endOffset` = until the end of the
/// partition as the replay finds it.
public struct ReplayPlan: Sendable, Equatable {
    public struct Range: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        /// The first offset read.
        public var startOffset: Int64
        /// The first offset not read; nil = up to the end of the partition when the replay reaches it.
        public var endOffset: Int64?
        /// The broker's high watermark when planned (an estimate of where an open range ends).
        public var highWatermark: Int64

        public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic, partition) }
        /// Records in the range (estimated with the high watermark for open ranges).
        public var estimatedRecords: Int64 { max(0, (endOffset ?? highWatermark) - startOffset) }
    }

    public var fromMs: Int64?
    public var toMs: Int64?
    public var ranges: [Range]
    public var estimatedRecords: Int64 { ranges.reduce(0) { $0 + $1.estimatedRecords } }
}

extension ReplayPlan {
    /// The plan as JSON-ready values (`qanchor replay` prints it).
    public var jsonObject: [String: Any] {
        [
            "from_ms": fromMs.map { $0 as Any } ?? NSNull(), "to_ms": toMs.map { $0 as Any } ?? NSNull(),
            "estimated_records": estimatedRecords,
            "ranges": ranges.map { r -> [String: Any] in
                ["topic": r.topic, "partition": r.partition, "start_offset": r.startOffset,
                 "end_offset": r.endOffset.map { $0 as Any } ?? NSNull(), "high_watermark": r.highWatermark,
                 "estimated_records": r.estimatedRecords]
            },
        ]
    }
}
