import Foundation

/// The deterministic workload of the crash-loop test (`qanchor store crash-writer`, hidden): batch `i`
/// of partition `p` is a pure function of `(p, i)`, so a verifier can recompute exactly what every
/// committed batch must have stored. Not part of the store's API.
@_spi(CrashTest)
public enum CrashWorkload {
    public static let partitions: [Int32] = [0, 1, 2, 3]
    public static let eventsPerBatch = 20
    public static let usersPerPartition = 13
    public static let topic = "crash"
    public static let baseTimeMs: Int64 = 1_764_288_000_000
    /// Modalities: two text (dimension 8) and one tabular (dimension 4); caps large enough that nothing
    /// is pruned, so the expected state is the union of the committed batches.
    public static let modalities = [
        ModalitySchema(name: "bill", kind: .text, cap: 1_000_000, dimension: 8),
        ModalitySchema(name: "app", kind: .text, cap: 1_000_000, dimension: 8),
        ModalitySchema(name: "tabular", kind: .tabular, cap: 1, dimension: 4),
    ]

    public static func configuration(directory: URL) -> StoreConfiguration {
        var c = StoreConfiguration(directory: directory, modalities: modalities)
        c.environment.initialMapSize = 1 << 20   // small, so crashes also hit map growth
        return c
    }

    public static func user(_ p: Int32, _ i: Int, _ j: Int) -> UserKey {
        UserKey(partition: p, userID: "u\(p)-\((i * 7 + j) % usersPerPartition)")
    }

    /// Values exactly representable in fp16, so stored vectors compare exactly.
    public static func vector(_ i: Int, _ j: Int, dimension: Int) -> [Float] {
        (0..<dimension).map { d in Float((i + 3 * j + d) % 64) * 0.25 }
    }

    public static func event(_ p: Int32, _ i: Int, _ j: Int) -> IngestEvent {
        let m = j % 3
        let ts = baseTimeMs + Int64(i) * 100 + Int64(j)
        let content: IngestEvent.Content = m == 2
            ? .tabular(features: vector(i, j, dimension: 4))
            : .text(vector: vector(i, j, dimension: 8), textHash: Array("h\(i)-\(j)".utf8))
        return IngestEvent(user: user(p, i, j), modality: m, eventID: "p\(p)-b\(i)-e\(j)", timestampMs: ts, content: content)
    }

    public static func batch(_ p: Int32, _ i: Int) -> IngestBatch {
        IngestBatch(events: (0..<eventsPerBatch).map { event(p, i, $0) },
                    offsets: [SourceOffset(topic: topic, partition: p, nextOffset: Int64(i + 1) * Int64(eventsPerBatch))],
                    nowMs: baseTimeMs + Int64(i) * 100 + 1000)
    }

    /// The next batch index of partition `p` according to the offsets stored in `store`.
    public static func nextBatch(_ store: EventStore, partition p: Int32) throws -> Int {
        let offset = try store.storedOffsets(partition: p).first { $0.topic == topic }?.nextOffset ?? 0
        return Int(offset) / eventsPerBatch
    }
}
