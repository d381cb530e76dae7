import Foundation
import Logging

/// The qanchor state store: the rolling per-user event buffer and its bookkeeping in one LMDB
/// environment (schema in docs/store.md).
///
/// It takes plain values (events with vectors, offsets, refresh records, opaque bytes) and knows nothing
/// of Kafka or the model.
///
/// Invariants:
/// - everything one call writes is applied in one transaction (ingest: events, dedup and expiry index,
///   dirty marks, offsets, cache entries — all or nothing);
/// - per (user, text modality) at most K_m events, all inside the window as of the last write;
/// - a dirty mark is removed only by the refresh that read that very mark (`generation`).
///
/// Threading: `EventStore` is `Sendable`. Reads (`userState`, `dirtyUsers`, `statistics`, …) are
/// synchronous, short, lock-free LMDB read transactions callable from any thread or task. Writes are
/// `async`: they are queued to the single writer thread, batched with other writes into one transaction,
/// and return once durable (durable by default): after the commit (`CommitMode.perRequest`) or, for
/// ingests in `CommitMode.journaled`, after the journal append is synced — reads then see an ingest
/// only from the next checkpoint on (`checkpoint()`). Call `close()` once, after all other use.
public final class EventStore: Sendable {
    /// The schema version this code writes and reads.
    public static let schemaVersion: UInt32 = 3

    /// The configuration the store was opened with (modalities resolved from the store when none were given).
    public let configuration: StoreConfiguration
    let environment: LMDBEnvironment
    let tables: Tables
    let writer: LMDBWriteQueue
    let logger: Logger
    /// Held when this store owns the directory (replays and writes the journal); see ``StoreLock``.
    private let lock: StoreLock?
    private let closed = CloseOnce()

    /// Opens (creating when absent) the store in `configuration.directory`.
    ///
    /// Fails with `StoreError.notAStore` for a foreign or corrupt file, `schemaTooNew` for a store
    /// written by a newer qanchor and `modalityMismatch` when the modality order changed.
    /// `lock`: the directory's ``StoreLock`` when the caller already holds it (the daemon takes it before loading
    /// its model); otherwise the store tries to take it and, if another process holds it, opens as a reader of
    /// checkpointed state (refused in journaled mode).
    public init(configuration: StoreConfiguration, logger: Logger = Logger(label: "qanchor.store"),
                lock: StoreLock? = nil) throws {
        try configuration.validate()
        self.logger = logger
        let environment = try LMDBEnvironment(directory: configuration.directory, options: configuration.environment,
                                              logger: logger)
        do {
            var resolved = configuration
            (self.tables, resolved.modalities) = try SchemaSetup.openOrCreate(environment, configuration: configuration,
                                                                               logger: logger)
            self.configuration = resolved
        } catch {
            environment.close()
            throw error
        }
        self.environment = environment
        let resolved = self.configuration
        let tables = self.tables
        do {
            // The journal's owner: whoever holds the lock replays leftovers and may journal.
            self.lock = try lock ?? StoreLock.acquire(directory: configuration.directory)
            var lastSequence: UInt64 = 0
            if self.lock != nil {
                lastSequence = try JournalRecovery.run(environment: environment, tables: tables, configuration: resolved,
                                                       logger: logger)
            } else if case .journaled = configuration.commitMode {
                throw StoreError.locked(path: configuration.directory.path, holder: nil)
            } else {
                logger.info("another process owns the store's journal; not replaying it",
                            metadata: ["store": "\(configuration.directory.path)"])
            }
            let counters = WriterCounters()
            let committer: WriteCommitter
            switch configuration.commitMode {
            case .perRequest:
                committer = PerRequestCommitter(environment: environment, counters: counters, logger: logger)
            case let .journaled(interval, maxEvents):
                let journal = WriteJournal(directory: configuration.directory, lastSequence: lastSequence, logger: logger)
                committer = JournaledCommitter(
                    environment: environment, journal: journal, interval: interval, maxEvents: maxEvents,
                    counters: counters, logger: logger,
                    replay: { txn, record in _ = try IngestApplier.apply(record, txn: txn, tables: tables, config: resolved) },
                    recordCheckpoint: { txn, sequence in try Meta.putU64(txn, tables, JournalRecovery.metaKey, sequence) })
            }
            self.writer = LMDBWriteQueue(committer: committer, counters: counters,
                                         maxJobsPerTransaction: configuration.maxRequestsPerTransaction)
        } catch {
            environment.close()
            throw error
        }
    }

    deinit { close() }

    /// Finishes queued writes, stops the writer thread and closes the environment. Idempotent; also
    /// done when the store is released.
    public func close() {
        guard closed.claim() else { return }
        let environment = self.environment
        let lock = self.lock
        writer.stop {
            environment.close()
            lock?.release()
        }
    }

    /// Commits everything acknowledged so far, so that reads see it: in journaled mode the open
    /// transaction is committed and the journal emptied; in per-request mode there is nothing to do
    /// (an empty commit). Call it before a refresh cycle and when partitions are assigned.
    public func checkpoint() async throws {
        try await write { _ in }
    }

    /// Counters of the writer thread (commits, requests, isolated failures, map growths).
    public var writerStatistics: WriterStatistics { writer.statistics }

    /// Forces committed data to disk (meaningful under `noSync` / `noMetaSync`).
    public func sync() throws { try environment.sync() }

    /// Runs `body` in a read transaction.
    func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T { try environment.read(body) }

    /// Queues `body` for the writer thread and returns after its transaction committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (LMDBTransaction) throws -> T) async throws -> T {
        try await writer.submit(body)
    }

    /// The index and schema of the modality named `name`.
    public func modalityIndex(named name: String) -> Int? {
        configuration.modalities.firstIndex { $0.name == name }
    }
}

extension EventStore {
    /// Opens an existing store with the modalities it was created with (for tools: inspect, backup).
    /// Fails with `notAStore` when `directory` holds no `data.mdb`, so no empty store is created by mistake.
    public static func openExisting(directory: URL, logger: Logger = Logger(label: "qanchor.store")) throws -> EventStore {
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent("data.mdb").path) else {
            throw StoreError.notAStore(path: directory.path, reason: "no data.mdb")
        }
        var config = StoreConfiguration(directory: directory, modalities: [])
        config.environment.initialMapSize = 1 << 20   // LMDB keeps the larger size recorded in the file
        return try EventStore(configuration: config, logger: logger)
    }
}

/// A flag that can be claimed once, from any thread.
final class CloseOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}
