import Foundation
import QAnchorKafka
import QAnchorStore

/// An input partition whose stored position lies beyond the end of its log: the topic was recreated or truncated,
/// or the broker lost its data (docs/daemon.md "When the input log moves under the daemon").
struct OffsetOutOfRange: Error, CustomStringConvertible {
    let partition: KafkaTopicPartition
    /// The daemon's next offset for the partition (what it has ingested up to).
    let stored: Int64
    /// The log's first offset and its end (the next offset a record would get), from the latest fetch response.
    let logStart: Int64, logEnd: Int64

    var description: String {
        "input \(partition): the stored position \(stored) is beyond the end of the log (\(logEnd), first offset \(logStart)): "
            + "the topic was recreated or truncated, or the broker lost its data. kafka.on_offset_out_of_range: earliest or "
            + "window re-reads it; fail (the default) stops here"
    }
}

extension Daemon {
    /// Active input partitions whose stored position is beyond the high watermark of the latest fetch response.
    ///
    /// A broker answers a fetch beyond the log end with OFFSET_OUT_OF_RANGE (Kafka; the consumer is configured not to
    /// reset on its own) or with an empty response and the true high watermark (Tansu): both leave the stored
    /// position above the fetched high watermark, which is what this looks for.
    func partitionsBeyondLogEnd() throws -> [OffsetOutOfRange] {
        let assigned = Set((try? consumer.assignment()) ?? [])
        let active = ownership.active
        var found: [OffsetOutOfRange] = []
        for stored in try store.storedOffsets() {
            let tp = KafkaTopicPartition(stored.topic, stored.partition)
            guard inputTopics.contains(stored.topic), assigned.contains(tp), active.contains(stored.partition),
                  let marks = consumer.fetchedWatermarks(tp), marks.high >= 0, stored.nextOffset > marks.high else { continue }
            found.append(OffsetOutOfRange(partition: tp, stored: stored.nextOffset, logStart: max(0, marks.low), logEnd: marks.high))
        }
        return found.sorted { ($0.partition.topic, $0.partition.partition) < ($1.partition.topic, $1.partition.partition) }
    }

    /// Looks every 2 s. A partition seen beyond its log end at the same stored position in two checks in a row is
    /// acted on (the second look rules out a high watermark cached from before the partition was last started):
    /// logged as an error and counted, then `kafka.on_offset_out_of_range` decides — `fail` throws (the daemon
    /// stops with the error), `earliest`/`window` move the stored position back (changelog and store) and seek.
    func offsetRangeLoop() async throws {
        var suspects: [KafkaTopicPartition: Int64] = [:]
        while !isStopping {
            await stopSignal.wait(timeout: .seconds(2))
            if isStopping { return }
            let found: [OffsetOutOfRange]
            do { found = try partitionsBeyondLogEnd() } catch {
                logger.warning("offset range check failed", metadata: ["error": "\(error)"])
                continue
            }
            let confirmed = found.filter { suspects[$0.partition] == $0.stored }
            suspects = Dictionary(found.map { ($0.partition, $0.stored) }, uniquingKeysWith: max)
            guard !confirmed.isEmpty else { continue }
            try await recover(confirmed)
            for problem in confirmed { suspects[problem.partition] = nil }
        }
    }

    private func recover(_ problems: [OffsetOutOfRange]) async throws {
        let policy = configuration.kafka.onOffsetOutOfRange
        for problem in problems {
            metrics.offsetsOutOfRange(topic: problem.partition.topic, action: policy.rawValue).increment()
            logger.error("input offset out of range", metadata: [
                "partition": "\(problem.partition)", "stored": "\(problem.stored)", "log_start": "\(problem.logStart)",
                "log_end": "\(problem.logEnd)", "action": "\(policy.rawValue)",
            ])
        }
        var positions: [KafkaTopicPartition: Int64] = [:]
        switch policy {
        case .fail:
            throw problems[0]
        case .earliest:
            for problem in problems { positions[problem.partition] = problem.logStart }
        case .window:
            let from = Self.nowMs() - Int64(model.manifest.windowDays) * 86_400_000
            let found = try await consumer.offsets(forTimes: Dictionary(uniqueKeysWithValues: problems.map { ($0.partition, from) }))
            for problem in problems { positions[problem.partition] = (found[problem.partition] ?? nil) ?? problem.logEnd }
        }
        let written = try await ingestor.resetOffsets(
            positions.map { SourceOffset(topic: $0.key.topic, partition: $0.key.partition, nextOffset: $0.value) }, nowMs: Self.nowMs())
        // Records before a partition's start position count as stale leftovers of an earlier assignment: the new log
        // starts lower.
        state.withLock { s in
            for o in written { s.startedAt[KafkaTopicPartition(o.topic, o.partition)] = o.nextOffset }
        }
        try await consumer.start(Dictionary(uniqueKeysWithValues: written.map {
            (KafkaTopicPartition($0.topic, $0.partition), KafkaOffset.exactly($0.nextOffset))
        }))
        logger.notice("input partitions re-read after their log moved", metadata: [
            "positions": "\(written.map { "\($0.topic)[\($0.partition)]@\($0.nextOffset)" }.sorted())",
        ])
    }
}
