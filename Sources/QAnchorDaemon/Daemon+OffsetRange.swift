import Foundation
import QAnchorKafka
import QAnchorStore

/// An input partition whose stored position lies beyond the end of its log: the topic was recreated or truncated,
/// or the broker lost its data (docs/daemon.md "When the input log moves under the daemon").
struct OffsetOutOfRange: Error, CustomStringConvertible {
    /// Beyond the log's end (the log moved: `kafka.on_offset_out_of_range` decides), or below its start (retention
    /// deleted records before they were ingested: they are gone, reading resumes at the log start).
    enum Side: Sendable { case beyondEnd, belowStart }
    let side: Side
    let partition: KafkaTopicPartition

    /// Where a stored position lies against a log's watermarks: nil inside the log (or unknown watermarks).
    static func side(of stored: Int64, in marks: KafkaWatermarks) -> Side? {
        guard marks.high >= 0 else { return nil }
        if stored > marks.high { return .beyondEnd }
        if marks.low > 0, stored < marks.low { return .belowStart }
        return nil
    }
    /// The daemon's next offset for the partition (what it has ingested up to).
    let stored: Int64
    /// The log's first offset and its end (the next offset a record would get), from a fetch response or the broker.
    let logStart: Int64, logEnd: Int64

    var description: String {
        if side == .belowStart {
            return "input \(partition): the stored position \(stored) is below the start of the log (\(logStart)): "
                + "\(logStart - stored) records were deleted by retention before they were ingested"
        }
        return "input \(partition): the stored position \(stored) is beyond the end of the log (\(logEnd), first offset \(logStart)): "
            + "the topic was recreated or truncated, or the broker lost its data. kafka.on_offset_out_of_range: earliest or "
            + "window re-reads it; fail (the default) stops here"
    }
}

extension Daemon {
    /// Active input partitions whose stored position lies outside their log: beyond the high watermark, or below the
    /// log start. With `listed`, the watermarks are asked of the broker (ListOffsets); otherwise those of the latest
    /// fetch response are used.
    ///
    /// A broker answers a fetch outside the log with OFFSET_OUT_OF_RANGE (Kafka; the consumer is configured to
    /// report it instead of resetting on its own, and the daemon then checks with `listed`) or, beyond the end, with
    /// an empty response and the true high watermark (Tansu, whose ListOffsets high watermark is unreliable: hence
    /// the fetched one by default).
    func partitionsOutsideTheirLog(listed: Bool) async throws -> [OffsetOutOfRange] {
        let assigned = Set((try? consumer.assignment()) ?? [])
        let active = ownership.active
        var found: [OffsetOutOfRange] = []
        for stored in try store.storedOffsets() {
            let tp = KafkaTopicPartition(stored.topic, stored.partition)
            guard inputTopics.contains(stored.topic), assigned.contains(tp), active.contains(stored.partition) else { continue }
            let marks: KafkaWatermarks
            if listed {
                guard let queried = try? await consumer.queryWatermarks(tp, timeout: .seconds(5)) else { continue }
                marks = queried
            } else {
                guard let fetched = consumer.fetchedWatermarks(tp) else { continue }
                marks = fetched
            }
            guard let side = OffsetOutOfRange.side(of: stored.nextOffset, in: marks) else { continue }
            found.append(OffsetOutOfRange(side: side, partition: tp, stored: stored.nextOffset,
                                          logStart: max(0, marks.low), logEnd: marks.high))
        }
        return found.sorted { ($0.partition.topic, $0.partition.partition) < ($1.partition.topic, $1.partition.partition) }
    }

    /// Looks every 2 s. A partition seen outside its log at the same stored position in two checks in a row (the
    /// second look rules out a watermark cached from before the partition was last started), or at once after the
    /// consumer reported an out-of-range fetch, is acted on. Beyond the end: logged as an error and counted, then
    /// `kafka.on_offset_out_of_range` decides — `fail` throws (the daemon stops with the error), `earliest`/`window`
    /// move the stored position back (changelog and store) and seek. Below the start: resumed at the start.
    func offsetRangeLoop() async throws {
        var suspects: [KafkaTopicPartition: Int64] = [:]
        while !isStopping {
            await stopSignal.wait(timeout: .seconds(2))
            if isStopping { return }
            // After the consumer reported an out-of-range fetch (Kafka), the broker's own watermarks decide at once.
            let listed = state.withLock { s in defer { s.offsetResetReported = false }; return s.offsetResetReported }
            let found: [OffsetOutOfRange]
            do { found = try await partitionsOutsideTheirLog(listed: listed) } catch {
                logger.warning("offset range check failed", metadata: ["error": "\(error)"])
                continue
            }
            let confirmed = listed ? found : found.filter { suspects[$0.partition] == $0.stored }
            suspects = Dictionary(found.map { ($0.partition, $0.stored) }, uniquingKeysWith: max)
            guard !confirmed.isEmpty else { continue }
            try await recover(confirmed)
            for problem in confirmed { suspects[problem.partition] = nil }
        }
    }

    private func recover(_ all: [OffsetOutOfRange]) async throws {
        // Below the log start: nothing to decide, the records are gone; resume at the start (as a consumer does).
        let belowStart = all.filter { $0.side == .belowStart }
        for problem in belowStart {
            metrics.offsetsOutOfRange(topic: problem.partition.topic, action: "log_start").increment()
            logger.warning("input records deleted by retention before they were ingested", metadata: [
                "partition": "\(problem.partition)", "stored": "\(problem.stored)", "log_start": "\(problem.logStart)",
                "skipped": "\(problem.logStart - problem.stored)",
            ])
        }
        try await reread(Dictionary(uniqueKeysWithValues: belowStart.map { ($0.partition, $0.logStart) }))
        let problems = all.filter { $0.side == .beyondEnd }
        guard !problems.isEmpty else { return }
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
        try await reread(positions)
    }

    /// Moves the stored positions to `positions` (changelog, then store) and starts the partitions there.
    private func reread(_ positions: [KafkaTopicPartition: Int64]) async throws {
        guard !positions.isEmpty else { return }
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
