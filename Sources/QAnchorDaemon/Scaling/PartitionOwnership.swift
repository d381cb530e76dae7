import Foundation

/// Which input partition numbers this instance owns, and the fence that keeps two instances from writing one
/// partition's outputs or changelog at the same time (docs/kafka.md "Ownership").
///
/// A partition number goes `restoring` (assigned; its state is being brought up to date from the changelog; its
/// inputs are not fetched yet) → `active` (ingested, refreshed, served) → gone (revoked). Work that writes for a
/// partition — an ingest batch's dead letters, changelog records and store commit; a refresh page's publication —
/// holds a `Lease` on it. `revoke` (called inside the consumer's rebalance, on its poll thread) first stops new
/// leases and cancels the restore, then **blocks until every lease on the partition is released and its restore
/// has exited**, so once the partition is handed to the next owner nothing of this instance writes for it anymore.
///
/// Threading: all methods may be called from any thread. `revoke` blocks its caller (never call it from the
/// cooperative pool); the others only take a lock briefly.
final class PartitionOwnership: @unchecked Sendable {
    enum Phase: Equatable {
        case restoring(epoch: UInt64)
        /// Active since the restore of assignment `epoch` finished.
        case active(epoch: UInt64)
        case revoking
    }

    /// A hold on some active partitions; release it once.
    struct Lease: Sendable {
        let id: UInt64
        /// The partitions the lease covers: those asked for that were active.
        let partitions: Set<Int32>
    }

    private struct State {
        var phases: [Int32: Phase] = [:]
        var leases: [Int32: Int] = [:]
        /// Restore tasks still running, by partition (their epoch).
        var restoring: [Int32: UInt64] = [:]
        /// How to cancel each running restore (registered by its runner).
        var cancellers: [Int32: @Sendable () -> Void] = [:]
        var nextEpoch: UInt64 = 0
        var nextLease: UInt64 = 0
    }

    private let condition = NSCondition()
    private var state = State()
    /// Called after every change (outside the lock), e.g. to re-announce ownership.
    private let onChange: @Sendable () -> Void

    init(onChange: @escaping @Sendable () -> Void = {}) {
        self.onChange = onChange
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(&state)
    }

    /// The partition was assigned: it starts restoring. Returns the restore's epoch (it identifies this assignment:
    /// a partition revoked and assigned again gets a new one).
    func beginRestore(_ partition: Int32) -> UInt64 {
        let epoch = locked { s -> UInt64 in
            s.nextEpoch += 1
            s.phases[partition] = .restoring(epoch: s.nextEpoch)
            s.restoring[partition] = s.nextEpoch
            return s.nextEpoch
        }
        onChange()
        return epoch
    }

    /// Registers how to cancel the restore of this assignment (e.g. its task); called at once if the partition is
    /// already being revoked.
    func onRevoke(_ partition: Int32, epoch: UInt64, cancel: @escaping @Sendable () -> Void) {
        let now = locked { s -> Bool in
            guard s.phases[partition] == .restoring(epoch: epoch) else { return true }
            s.cancellers[partition] = cancel
            return false
        }
        if now { cancel() }
    }

    /// Whether the restore of this assignment should go on (false once the partition is being revoked).
    func isRestoring(_ partition: Int32, epoch: UInt64) -> Bool {
        locked { $0.phases[partition] == .restoring(epoch: epoch) }
    }

    /// The restore of this assignment finished: the partition becomes active, unless it is being revoked meanwhile
    /// (then false). Call `restoreExited` afterwards in every case.
    func activate(_ partition: Int32, epoch: UInt64) -> Bool {
        let done = locked { s -> Bool in
            guard s.phases[partition] == .restoring(epoch: epoch) else { return false }
            s.phases[partition] = .active(epoch: epoch)
            return true
        }
        if done { onChange() }
        return done
    }

    /// The restore task of this assignment has ended (successfully or not); a pending `revoke` may proceed.
    func restoreExited(_ partition: Int32, epoch: UInt64) {
        condition.lock()
        if state.restoring[partition] == epoch {
            state.restoring[partition] = nil
            state.cancellers[partition] = nil
        }
        condition.broadcast()
        condition.unlock()
    }

    /// The assignment epochs of the active partitions among `partitions`.
    func activeEpochs(_ partitions: some Sequence<Int32>) -> [Int32: UInt64] {
        locked { s in
            var out: [Int32: UInt64] = [:]
            for p in partitions { if case .active(let epoch) = s.phases[p] { out[p] = epoch } }
            return out
        }
    }

    /// Leases the active partitions among `partitions`; with `epochs`, only those still active in the same
    /// assignment (work prepared from state read under one assignment must not be published under the next).
    func lease(_ partitions: Set<Int32>, epochs: [Int32: UInt64]? = nil) -> Lease {
        locked { s in
            s.nextLease += 1
            let granted = partitions.filter { p in
                guard case .active(let epoch) = s.phases[p] else { return false }
                return epochs.map { $0[p] == epoch } ?? true
            }
            for p in granted { s.leases[p, default: 0] += 1 }
            return Lease(id: s.nextLease, partitions: granted)
        }
    }

    func release(_ lease: Lease) {
        condition.lock()
        for p in lease.partitions {
            let left = (state.leases[p] ?? 1) - 1
            state.leases[p] = left > 0 ? left : nil
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Takes partitions away: no new lease or activation from now on; returns once their leases are released and
    /// their restores have exited (at most `timeout`; then it logs through `onTimeout` and returns anyway — the
    /// rebalance must not hang forever).
    func revoke(_ partitions: Set<Int32>, timeout: Duration = .seconds(120), onTimeout: (Set<Int32>) -> Void = { _ in }) {
        guard !partitions.isEmpty else { return }
        condition.lock()
        for p in partitions where state.phases[p] != nil { state.phases[p] = .revoking }
        let cancels = partitions.compactMap { state.cancellers.removeValue(forKey: $0) }
        condition.unlock()
        for cancel in cancels { cancel() }
        condition.lock()
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        var busy: Set<Int32> { partitions.filter { state.leases[$0] != nil || state.restoring[$0] != nil } }
        while !busy.isEmpty {
            if !condition.wait(until: deadline) {
                let stuck = busy
                condition.unlock()
                onTimeout(stuck)
                condition.lock()
                break
            }
        }
        for p in partitions { state.phases[p] = nil }
        condition.unlock()
        onChange()
    }

    /// Partition numbers by phase.
    var active: Set<Int32> { locked { s in Set(s.phases.compactMap { if case .active = $0.value { return $0.key } else { return nil } }) } }
    var restoring: Set<Int32> { locked { s in Set(s.phases.compactMap { if case .restoring = $0.value { return $0.key } else { return nil } }) } }
    /// Every partition number assigned to this instance (restoring, active or being revoked).
    var assigned: Set<Int32> { locked { Set($0.phases.keys) } }
}
