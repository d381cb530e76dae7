import Foundation
import Logging

/// Replays, at open, the journal records newer than the last checkpoint (`journal_seq` in `meta`) into
/// one write transaction, commits it with the new `journal_seq`, and deletes the segments.
///
/// Rules: records at or below the checkpoint are skipped; the others must continue the sequence one by
/// one (a gap is corruption); a torn tail of the newest segment is cut off (logged: it was never
/// acknowledged); a damaged frame anywhere else fails loudly with `StoreError.corruptJournal` (file,
/// offset) and leaves everything untouched. The same `IngestApplier` as live ingest applies the records.
enum JournalRecovery {
    static let metaKey = "journal_seq"

    /// Returns the last journal sequence now contained in the store.
    static func run(environment: LMDBEnvironment, tables: Tables, configuration: StoreConfiguration,
                    logger: Logger) throws -> UInt64 {
        let directory = configuration.directory
        let committed = try environment.read { txn in try Meta.u64(txn, tables, metaKey) ?? 0 }
        let segments = try WriteJournal.segments(in: directory)
        guard !segments.isEmpty else { return committed }

        var pending: [(record: JournalReader.Record, file: URL)] = []
        var last = committed
        var tails: [(URL, JournalReader.TornTail)] = []
        for (index, url) in segments.enumerated() {
            var reader = try JournalReader(url: url)
            while let r = try reader.next() {
                if r.sequence <= committed { continue }
                guard r.sequence == last + 1 else {
                    throw StoreError.corruptJournal(path: url.path, offset: r.offset,
                                                    reason: "record sequence \(r.sequence) where \(last + 1) was expected")
                }
                last = r.sequence
                pending.append((r, url))
            }
            if let tail = reader.tornTail {
                guard index == segments.count - 1 else {
                    throw StoreError.corruptJournal(path: url.path, offset: tail.offset,
                                                    reason: "damaged record in a segment that is not the newest (\(tail.reason))")
                }
                tails.append((url, tail))
            }
        }
        for (url, tail) in tails {
            logger.warning("cut a torn journal tail (an unacknowledged append interrupted by a crash)",
                           metadata: ["segment": "\(url.path)", "offset": "\(tail.offset)", "reason": "\(tail.reason)"])
            if truncate(url.path, off_t(tail.offset)) != 0 {
                throw StoreError.io(path: url.path, operation: "truncate torn journal tail", reason: String(cString: strerror(errno)))
            }
        }
        if !pending.isEmpty {
            try replay(pending, through: last, environment: environment, tables: tables, configuration: configuration)
            if environment.options.durability != .durable { try environment.sync() }
            logger.info("replayed the journal", metadata: ["store": "\(directory.path)", "records": "\(pending.count)",
                                                           "from": "\(committed + 1)", "through": "\(last)"])
        }
        let journal = WriteJournal(directory: directory, lastSequence: last, logger: logger)
        journal.discardAll()
        try WriteJournal.syncDirectory(directory)
        return last
    }

    private static func replay(_ pending: [(record: JournalReader.Record, file: URL)], through last: UInt64,
                               environment: LMDBEnvironment, tables: Tables, configuration: StoreConfiguration) throws {
        while true {
            let txn = try environment.beginWrite()
            do {
                for (r, file) in pending {
                    do {
                        _ = try r.payload.withUnsafeBytes {
                            try IngestApplier.apply($0, txn: txn, tables: tables, config: configuration)
                        }
                    } catch let error as LMDBError where error.isMapFull {
                        throw error
                    } catch {
                        throw StoreError.corruptJournal(path: file.path, offset: r.offset,
                                                        reason: "replaying record \(r.sequence) failed: \(error)")
                    }
                }
                try Meta.putU64(txn, tables, metaKey, last)
                try txn.commit()
                return
            } catch let error as LMDBError where error.isMapFull {
                txn.abort()
                try environment.grow()
            } catch {
                txn.abort()
                throw error
            }
        }
    }
}
