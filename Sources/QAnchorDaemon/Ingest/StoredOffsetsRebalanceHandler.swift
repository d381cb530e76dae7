import Dispatch
import Foundation
import Logging
import QAnchorKafka
import QAnchorStore

/// Starts each newly assigned partition at the offset the store holds for it (written in the same transaction as
/// the events it covers), or, when the store has none, by the reset policy — never at the group's committed
/// offset, which is advisory (a partition with no local state must be rebuilt from the log). "earliest" rebuilds
/// the window: it starts at the first record produced at or after now − window (older records could only be
/// rejected as too old); "latest" starts at the end.
///
/// Threading: called on the consumer's poll thread; one short LMDB read (and, when rebuilding, one broker
/// offsets-for-times request; with a journaled store, one checkpoint first) per rebalance.
struct StoredOffsetsRebalanceHandler: KafkaRebalanceHandler {
    let store: EventStore
    let resetToEarliest: Bool
    /// The event window: how far back a rebuild reads.
    let windowMs: Int64
    /// Journaled store: checkpoint before reading the offsets (they are visible only after a checkpoint).
    let checkpointFirst: Bool
    let logger: Logger

    func startPositions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
        if checkpointFirst { checkpoint() }
        let stored: [SourceOffset]
        do { stored = try store.storedOffsets() } catch {
            logger.error("cannot read stored offsets; starting from the reset policy", metadata: ["error": "\(error)"])
            stored = []
        }
        var byPartition: [KafkaTopicPartition: Int64] = [:]
        for offset in stored { byPartition[KafkaTopicPartition(offset.topic, offset.partition)] = offset.nextOffset }
        let rebuildFrom = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) - windowMs
        var out: [KafkaTopicPartition: KafkaOffset] = [:]
        for tp in partitions {
            out[tp] = byPartition[tp].map { .exactly($0) } ?? (resetToEarliest ? .firstAtOrAfter(timestampMs: rebuildFrom) : .end)
        }
        return out
    }

    /// Waits for a store checkpoint. This runs on the consumer's poll thread (not the cooperative pool), so
    /// blocking it on the writer is safe; without it a reassigned partition would restart from the last checkpoint
    /// and re-read (and deduplicate) up to one checkpoint interval of records.
    private func checkpoint() {
        let done = DispatchSemaphore(value: 0)
        let store = self.store, logger = self.logger
        Task {
            do { try await store.checkpoint() } catch {
                logger.warning("checkpoint before seeking failed; starting from the last checkpoint",
                               metadata: ["error": "\(error)"])
            }
            done.signal()
        }
        done.wait()
    }
}
