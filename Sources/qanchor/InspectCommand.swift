import ArgumentParser
import Foundation
import QAnchorStore

/// `qanchor inspect --store DIR [--user ID] [--partition P] [--json]`: store statistics, or one user's state.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show store statistics, or the stored state of one user.")

    @Option(name: .long, help: "The store directory.")
    var store: String

    @Option(name: .long, help: "A user id: show that user's state instead of the statistics.")
    var user: String?

    @Option(name: .long, help: "The user's partition (found by lookup when omitted).")
    var partition: Int32?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "With --user: include the vectors (JSON only).")
    var vectors = false

    func run() async throws {
        let store = try EventStore.openExisting(directory: URL(fileURLWithPath: self.store))
        defer { store.close() }
        if let user {
            let key: UserKey
            if let partition { key = UserKey(partition: partition, userID: user) }
            else if let found = try store.locateUser(user) { key = found }
            else { throw ValidationError("user '\(user)' is not in \(self.store)") }
            guard let state = try store.userState(key) else { throw ValidationError("user \(key) is not in \(self.store)") }
            let view = UserView(state, outputs: try store.publishedOutputs(key), vectors: vectors)
            if json { try printJSON(view) } else { printText(view) }
        } else {
            let stats = try store.statistics()
            if json { try printJSON(stats) } else { printText(stats) }
        }
    }

    private func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    private func printText(_ s: StoreStatistics) {
        print("store            \(s.directory)")
        print("schema version   \(s.schemaVersion)")
        print("users            \(s.users)")
        print("dirty users      \(s.dirtyUsers)")
        for (name, n) in s.eventsByModality.sorted(by: { $0.key < $1.key }) {
            print("events[\(name)]".padding(toLength: 17, withPad: " ", startingAt: 0) + "\(n)")
        }
        print("content cache    \(s.contentCacheEntries) entries, \(s.contentCacheBytes) bytes")
        print("prefix KV        \(s.prefixKVEntries) entries, \(s.prefixKVBytes) bytes")
        print("map              \(s.mapUsedBytes) of \(s.mapSizeBytes) bytes used (page \(s.pageSize))")
        print("readers          \(s.readersInUse) of \(s.maxReaders)")
        print("last txn         \(s.lastTransactionID)")
        for o in s.offsets { print("offset           \(o.topic)/\(o.partition) next \(o.nextOffset)") }
    }

    private func printText(_ u: UserView) {
        print("user \(u.userID) partition \(u.partition)")
        if let r = u.refresh {
            print("last refresh: version \(r.version) at \(r.refreshedAtMs) fingerprint \(r.fingerprint) newest event \(r.newestEventMs)")
        } else {
            print("never refreshed")
        }
        if let d = u.dirty { print("dirty: modalities \(d.modalities) since \(d.firstDirtyMs) (generation \(d.generation))") }
        for m in u.modalities {
            print("  \(m.name): \(m.events.count) events" + (m.snapshot.map { ", snapshot \($0.eventID) at \($0.timestampMs)" } ?? ""))
            for e in m.events { print("    \(e.timestampMs)  \(e.eventID)  |h|=\(String(format: "%.4f", e.norm))") }
        }
        for o in u.outputs.keys.sorted() { print("  output[\(o)]: \(u.outputs[o]!) bytes") }
    }
}

/// The JSON/text view of one user's state.
private struct UserView: Encodable {
    struct Event: Encodable { let eventID: String; let timestampMs: Int64; let norm: Float; let vector: [Float]? }
    struct Snapshot: Encodable { let eventID: String; let timestampMs: Int64; let features: [Float]? }
    struct Modality: Encodable { let name: String; let events: [Event]; let snapshot: Snapshot? }
    struct Dirty: Encodable { let modalities: [String]; let firstDirtyMs: Int64; let generation: UInt64 }
    let userID: String
    let partition: Int32
    let refresh: RefreshRecord?
    let dirty: Dirty?
    let modalities: [Modality]
    /// scenario → size of the last published record in bytes.
    let outputs: [String: Int]

    init(_ s: UserState, outputs: [String: [UInt8]], vectors: Bool) {
        userID = s.user.userID
        partition = s.user.partition
        refresh = s.refresh
        dirty = s.dirty.map { d in
            Dirty(modalities: s.modalities.filter { d.modalityMask & (1 << UInt64($0.modality)) != 0 }.map(\.name),
                  firstDirtyMs: d.firstDirtyMs, generation: d.generation)
        }
        modalities = s.modalities.map { m in
            Modality(name: m.name,
                     events: m.events.map { e in
                         Event(eventID: e.eventID, timestampMs: e.timestampMs,
                               norm: e.vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), vector: vectors ? e.vector : nil)
                     },
                     snapshot: m.snapshot.map { Snapshot(eventID: $0.eventID, timestampMs: $0.timestampMs,
                                                         features: vectors ? $0.features : nil) })
        }
        self.outputs = outputs.mapValues(\.count)
    }
}
