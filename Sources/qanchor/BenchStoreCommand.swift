import ArgumentParser
import Foundation
@_spi(Benchmark) import QAnchorStore

/// `qanchor bench store`: ingest and whole-user read throughput of the state store on synthetic events,
/// with fp16 and fp32 vectors, against the targets and the raw LMDB put loop as peer.
struct BenchStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Benchmark the state store (ingest events/s, whole-user reads users/s, bytes per event).")

    @Option(help: "Synthetic events.") var events = 1_000_000
    @Option(help: "Distinct users.") var users = 100_000
    @Option(help: "Text modalities.") var modalities = 6
    @Option(help: "Vector dimension.") var dimension = 768
    @Option(help: "Events per ingest batch (one transaction each).") var batch = 1000
    @Option(help: "Kept events per (user, modality).") var cap = 50
    @Option(help: "Encodings to run, comma-separated (float16,float32).") var encodings = "float16,float32"
    @Option(help: "Durability: durable, noMetaSync, noSync.") var durability = "durable"
    @Option(help: "Commit modes to run, comma-separated, spelt as store.commit (per_request,journaled).") var commit = "per_request,journaled"
    @Option(help: "Journaled mode: checkpoint after this many events.") var checkpointEvents = 200_000
    @Option(help: "Journaled mode: checkpoint after this many milliseconds.") var checkpointIntervalMs = 5000
    @Option(help: "Users to read back (0 = all users).") var readUsers = 0
    @Option(help: "Reader threads for the read phase.") var readThreads = 1
    @Option(help: "Ingest batches in flight (the writer commits pending batches together).") var inFlight = 1
    @Option(help: "Working directory (a fresh temporary one when omitted; removed at the end).") var dir: String?
    @Flag(help: "Skip the raw LMDB peer.") var noPeer = false
    @Flag(help: "Build all synthetic batches before the timer starts (as the peer pre-builds its keys and values), so the ingest time is the store's alone.")
    var pregenerate = false
    @Flag(help: "Open the store with MDB_WRITEMAP.") var writeMap = false

    func run() async throws {
        guard let durability = Durability(rawValue: durability) else { throw ValidationError("unknown durability \(durability)") }
        let encodings = try self.encodings.split(separator: ",").map { name in
            guard let e = VectorEncoding(rawValue: String(name)) else { throw ValidationError("unknown encoding \(name)") }
            return e
        }
        let modes: [CommitMode] = try self.commit.split(separator: ",").map { name in
            switch name {
            case "per_request", "perRequest": return .perRequest
            case "journaled": return .journaled(interval: .milliseconds(checkpointIntervalMs), maxEvents: checkpointEvents)
            default: throw ValidationError("unknown commit mode '\(name)' (per_request, journaled)")
            }
        }
        guard events > 0, users > 0, batch > 0, modalities > 0, modalities <= 64, dimension > 0 else {
            throw ValidationError("sizes must be positive (modalities ≤ 64)")
        }
        let root = dir.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bench-store-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        defer { try? FileManager.default.removeItem(at: root) }

        let loadBefore = loadAverage()
        let workload = SyntheticWorkload(events: events, users: users, modalities: modalities, dimension: dimension)
        var results: [[String: Any]] = []
        for encoding in encodings {
            for mode in modes {
                results.append(try await runStore(workload, encoding: encoding, durability: durability, mode: mode,
                                                  directory: root.appendingPathComponent("\(encoding.rawValue)-\(mode.name)")))
            }
        }
        var peer: [String: Any]? = nil
        if !noPeer, let first = encodings.first {
            peer = try runPeer(workload, encoding: first, directory: root.appendingPathComponent("peer"))
        }
        var report: [String: Any] = [
            "benchmark": "store",
            "machine": machineDescription(),
            "load_average_before_after": [loadBefore, loadAverage()],
            "environment_note": "OPENBLAS_* variables untouched (not used by this benchmark)",
            "threads": ["writer": 1, "readers": readThreads, "cores": ProcessInfo.processInfo.activeProcessorCount],
            "workload": ["events": events, "users": users, "modalities": modalities, "dimension": dimension,
                         "batch": batch, "cap": cap, "durability": durability.rawValue, "pregenerated": pregenerate,
                         "checkpoint_events": checkpointEvents, "checkpoint_interval_ms": checkpointIntervalMs, "in_flight": inFlight, "write_map": writeMap,
                         "event_times": "a stream: rising over the last 30 days, ±60 s jitter"],
            "targets": ["ingest_events_per_s": 100_000, "read_users_per_s": 20_000],
            "results": results,
        ]
        if let peer, let peerRate = peer["events_per_s"] as? Double {
            report["peer"] = peer
            report["ingest_ratio_to_peer"] = results.map { r in
                ["encoding": r["encoding"] ?? "", "commit_mode": r["commit_mode"] ?? "",
                 "ratio": ((r["ingest_events_per_s"] as? Double) ?? 0) / peerRate]
            }
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    private func runStore(_ w: SyntheticWorkload, encoding: VectorEncoding, durability: Durability, mode: CommitMode,
                          directory: URL) async throws -> [String: Any] {
        let loadBefore = loadAverage()
        var config = StoreConfiguration(
            directory: directory,
            modalities: (0..<w.modalities).map { ModalitySchema(name: "m\($0)", kind: .text, cap: cap, dimension: w.dimension) })
        config.vectorEncoding = encoding
        config.environment.durability = durability
        config.environment.writeMap = writeMap
        config.environment.initialMapSize = 1 << 34   // as the peer: a production store keeps its grown map
        config.commitMode = mode
        let store = try EventStore(configuration: config)
        defer { store.close() }

        let batchSize = batch
        let batchCount = (w.events + batchSize - 1) / batchSize
        let window = max(1, inFlight)
        func makeBatch(_ b: Int) -> IngestBatch {
            let start = b * batchSize, end = min(start + batchSize, w.events)
            return IngestBatch(events: (start..<end).map(w.event),
                               offsets: [SourceOffset(topic: "bench", partition: Int32(b % window), nextOffset: Int64(end))],
                               nowMs: w.nowMs)
        }
        let prebuilt: [IngestBatch] = pregenerate ? (0..<batchCount).map(makeBatch) : []
        let ingestStart = now()
        let (ingested, stored) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            var totals = (0, 0)
            for b in 0..<batchCount {
                if b >= window, let (n, s) = try await group.next() { totals.0 += n; totals.1 += s }
                let batch = prebuilt.isEmpty ? nil : prebuilt[b]
                group.addTask {
                    let input = batch ?? makeBatch(b)
                    let r = try await store.ingest(input)
                    return (input.events.count, r.stored)
                }
            }
            for try await (n, s) in group { totals.0 += n; totals.1 += s }
            return totals
        }
        let acknowledgedSeconds = now() - ingestStart
        // Everything acknowledged is durable; make it visible to readers too (journaled: a checkpoint).
        try await store.checkpoint()
        let ingestSeconds = now() - ingestStart
        let writer = store.writerStatistics

        // Read phase: whole-user states in a shuffled order.
        var order = Array(0..<w.users)
        var rng = SplitMix(seed: 7)
        order.shuffle(using: &rng)
        if readUsers > 0 { order = Array(order.prefix(readUsers)) }
        let threads = max(1, readThreads)
        let readStart = now()
        let totals = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for t in 0..<threads {
                let slice = stride(from: t, to: order.count, by: threads).map { order[$0] }
                group.addTask {
                    var found = 0, events = 0
                    for u in slice {
                        if let s = try store.userState(w.user(u)) {
                            found += 1
                            events += s.modalities.reduce(0) { $0 + $1.events.count }
                        }
                    }
                    return (found, events)
                }
            }
            var sum = (0, 0)
            for try await (f, e) in group { sum.0 += f; sum.1 += e }
            return sum
        }
        let readSeconds = now() - readStart

        // Round-trip error, measured on what the store returns.
        var maxAbs: Float = 0, maxRel: Float = 0, sumSq: Double = 0, sumRef: Double = 0
        for u in order.prefix(1000) {
            guard let s = try store.userState(w.user(u)) else { continue }
            for m in s.modalities {
                for e in m.events {
                    guard let n = Int(e.eventID.dropFirst()) else { continue }
                    let ref = w.vector(n)
                    for (a, b) in zip(e.vector, ref) {
                        let d = abs(a - b)
                        maxAbs = max(maxAbs, d)
                        if abs(b) > 1e-3 { maxRel = max(maxRel, d / abs(b)) }
                        sumSq += Double(d * d); sumRef += Double(b * b)
                    }
                }
            }
        }
        let stats = try store.statistics()
        // Bytes allocated on disk (the file is sparse under MDB_WRITEMAP).
        var st = stat()
        stat(directory.appendingPathComponent("data.mdb").path, &st)
        let fileBytes = Int(st.st_blocks) * 512
        let storedEvents = stats.eventsByModality.values.reduce(0, +)
        return [
            "encoding": encoding.rawValue,
            "commit_mode": mode.name,
            "load_average_before_after": [loadBefore, loadAverage()],
            "events_ingested": ingested,
            "events_stored": storedEvents,
            "events_stored_by_ingest": stored,
            "ingest_seconds": ingestSeconds,
            "ingest_events_per_s": Double(ingested) / ingestSeconds,
            "ingest_note": "until every batch is acknowledged (durable) and a final checkpoint made it visible",
            "acknowledged_seconds": acknowledgedSeconds,
            "writer": ["commits": writer.commits, "requests": writer.requests, "journal_syncs": writer.journalSyncs,
                       "map_growths": writer.mapGrowths, "rebuilds": writer.rebuilds,
                       "apply_seconds": writer.applySeconds, "journal_seconds": writer.journalSeconds,
                       "commit_seconds": writer.commitSeconds],
            "users_read": totals.0,
            "events_read": totals.1,
            "read_seconds": readSeconds,
            "read_users_per_s": Double(totals.0) / readSeconds,
            "file_bytes": fileBytes,
            "map_used_bytes": stats.mapUsedBytes,
            "bytes_per_event": Double(fileBytes) / Double(max(1, storedEvents)),
            "vector_bytes_per_event": w.dimension * (encoding == .float16 ? 2 : 4),
            "roundtrip_max_abs_error": Double(maxAbs),
            "roundtrip_max_rel_error": Double(maxRel),
            "roundtrip_rel_rms_error": sumRef > 0 ? (sumSq / sumRef).squareRoot() : 0,
            "meets_targets": Double(ingested) / ingestSeconds >= 100_000 && Double(totals.0) / readSeconds >= 20_000,
        ]
    }

    /// The raw peer: the same number of puts of the same value size, 1000 per durable commit.
    private func runPeer(_ w: SyntheticWorkload, encoding: VectorEncoding, directory: URL) throws -> [String: Any] {
        let keys: [[UInt8]] = (0..<w.events).map { n in
            let e = w.event(n)
            var k = Array(e.user.userID.utf8)
            k.append(UInt8(e.modality))
            withUnsafeBytes(of: e.timestampMs.bigEndian) { k.append(contentsOf: $0) }
            k.append(contentsOf: e.eventID.utf8)
            return k
        }
        let valueSize = 1 + 8 + 5 + w.dimension * (encoding == .float16 ? 2 : 4)
        let values = (0..<64).map { v in [UInt8](repeating: UInt8(v), count: valueSize) }
        let seconds = try RawLMDBPeer.run(directory: directory, keys: keys, values: values, batch: batch)
        return ["name": "raw LMDB put loop (pre-built keys and values, \(batch) puts per durable commit)",
                "value_bytes": valueSize, "seconds": seconds, "events_per_s": Double(w.events) / seconds]
    }

    /// The 1-minute load average (the machine is shared: numbers vary with it).
    private func loadAverage() -> Double {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return Double(text.split(separator: " ").first ?? "") ?? -1
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    private func machineDescription() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}

/// Deterministic synthetic events: event n belongs to a pseudo-random user and modality, carries one of
/// 4096 pre-generated BERT-like vectors (Gaussian, σ ≈ 0.5) and a time that rises with n across the
/// last 30 days (a stream being consumed or replayed), with up to 2 minutes of jitter.
struct SyntheticWorkload: Sendable {
    let events: Int
    let users: Int
    let modalities: Int
    let dimension: Int
    let nowMs: Int64 = 1_764_288_000_000
    private let pool: [[Float]]

    init(events: Int, users: Int, modalities: Int, dimension: Int) {
        self.events = events
        self.users = users
        self.modalities = modalities
        self.dimension = dimension
        var rng = SplitMix(seed: 42)
        pool = (0..<4096).map { _ in (0..<dimension).map { _ in rng.gaussian() * 0.5 } }
    }

    func user(_ u: Int) -> UserKey { UserKey(partition: Int32(u % 12), userID: "user-\(u)") }
    func vector(_ n: Int) -> [Float] { pool[n % pool.count] }

    func event(_ n: Int) -> IngestEvent {
        var h = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        let u = Int(h % UInt64(users))
        let m = Int((h >> 20) % UInt64(modalities))
        // A stream: times rise with n across the last 30 days, with ±60 s of jitter.
        let span: Int64 = 30 * 86_400_000
        let ts = nowMs - span + Int64(Double(n) / Double(events) * Double(span)) + Int64((h >> 32) % 120_000) - 120_000
        var hash = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: UInt64(n).littleEndian) { for i in 0..<8 { hash[i] = $0[i] } }
        return IngestEvent(user: user(u), modality: m, eventID: "e\(n)", timestampMs: ts,
                           content: .text(vector: vector(n), textHash: hash))
    }
}

/// A small seeded generator (SplitMix64) so runs are reproducible.
struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func gaussian() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
