import ArgumentParser
import Foundation
@_spi(CrashTest) import QAnchorStore

/// `qanchor store …`: maintenance of the LMDB state store.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Back up and restore the state store.",
        subcommands: [StoreBackupCommand.self, StoreRestoreCommand.self, StoreCrashWriterCommand.self])
}

/// `qanchor store backup --store DIR --to DIR`: a hot, compacted copy of a (possibly running) store.
struct StoreBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a consistent compacted copy of the store (safe while the daemon runs).")

    @Option(name: .long, help: "The store directory.")
    var store: String

    @Option(name: .long, help: "The backup directory (absent or empty).")
    var to: String

    @Flag(name: .long, help: "Copy every page instead of compacting (faster, as large as the live file).")
    var noCompact = false

    func run() async throws {
        let store = try EventStore.openExisting(directory: URL(fileURLWithPath: self.store))
        defer { store.close() }
        let start = Date()
        try store.backup(to: URL(fileURLWithPath: to), compact: !noCompact)
        let size = (try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: to)
            .appendingPathComponent("data.mdb").path)[.size] as? Int) ?? 0
        print("backup of \(self.store) written to \(to): \(size) bytes in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
    }
}

/// `qanchor store restore --from DIR --store DIR`: installs a backup as a store (the daemon stopped).
struct StoreRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Install a backup as the store directory (absent or empty), then check that it opens.")

    @Option(name: .long, help: "The backup directory.")
    var from: String

    @Option(name: .long, help: "The store directory to create.")
    var store: String

    func run() async throws {
        var config = StoreConfiguration(directory: URL(fileURLWithPath: store), modalities: [])
        config.initialSizeBytes = 1 << 20
        try EventStore.restore(backup: URL(fileURLWithPath: from), into: URL(fileURLWithPath: store), configuration: config)
        print("restored \(from) into \(store)")
    }
}

/// Hidden: the child process of the crash-loop test. Writes `CrashWorkload` batches, one sequence per
/// partition (resuming from the stored offsets), and prints `ack P I` after each durable commit, until
/// killed or `--batches` per partition are written.
struct StoreCrashWriterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "crash-writer", shouldDisplay: false)

    @Option(name: .long) var store: String
    @Option(name: .long) var batches: Int = Int.max
    @Option(name: .long, help: "per_request or journaled (as store.commit).") var commit = "per_request"

    func run() async throws {
        var config = CrashWorkload.configuration(directory: URL(fileURLWithPath: self.store))
        switch commit {
        case "per_request", "perRequest": config.commitMode = .perRequest
        // Frequent checkpoints (every 25 ms or 300 events), so kills land before, during and after them.
        case "journaled": config.commitMode = .journaled(interval: .milliseconds(25), maxEvents: 300)
        default: throw ValidationError("unknown commit mode \(commit)")
        }
        let store = try EventStore(configuration: config)
        let limit = batches
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in CrashWorkload.partitions {
                let first = try CrashWorkload.nextBatch(store, partition: p)
                group.addTask {
                    var i = first
                    while i - first < limit {
                        _ = try await store.ingest(CrashWorkload.batch(p, i))
                        FileHandle.standardOutput.write(Data("ack \(p) \(i)\n".utf8))
                        i += 1
                    }
                }
            }
            try await group.waitForAll()
        }
        store.close()
    }
}
