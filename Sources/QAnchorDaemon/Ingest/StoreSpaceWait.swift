import Foundation
import QAnchorStore

/// How an ingest batch waits when the store's map is at `store.max_map_size_mb` (docs/reliability.md "Resources at
/// their limits"): the batch is not stored and its offsets do not move (nothing lost); `freeSpace` runs (the daemon
/// sweeps expired events, whose pages LMDB reuses) and the batch is tried again after a pause that doubles from
/// `initialPause` to `maximumPause`. Meanwhile the consumer falls behind and pauses its partitions (flow control),
/// so the group membership stays alive. `shouldStop` ends the wait with the store's error; `pause` sleeps (and may
/// return early, at a stop request).
///
/// A value type; its closures may run on any task.
public struct StoreSpaceWait: Sendable {
    var initialPause: Duration = .seconds(1)
    var maximumPause: Duration = .seconds(30)
    var freeSpace: @Sendable () async -> Void
    var shouldStop: @Sendable () -> Bool
    var pause: @Sendable (Duration) async -> Void

    /// Whether `error` means the map is full and cannot grow.
    static func isStoreFull(_ error: any Error) -> Bool {
        if case StoreError.mapSizeLimit = error { return true }
        return false
    }
}
