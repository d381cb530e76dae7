import Foundation
import Logging

/// The write-ahead journal of `CommitMode.journaled`: append-only segment files
/// `journal-<first sequence, 16 hex digits>.qaj` (mode 0600) in the store directory, holding the ingest
/// records applied to the open LMDB transaction since the last checkpoint.
///
/// File: magic `QAJOURN1`, then frames. Frame (little-endian): `length u32 | sequence u64 |
/// payload XXH64 u64 | header check u32 (low 32 bits of XXH64 of the 20 bytes before it) | payload`.
/// Sequences rise by one from frame to frame, across segments.
///
/// Invariants: `append` returns only after the frames are written and `fdatasync`ed (and, for a new
/// segment, the directory entry synced); a failed append leaves the file as before it (truncated back).
/// A new segment starts after every checkpoint, so the current segment holds exactly the records since
/// the last checkpoint.
///
/// Threading: owned by the writer thread (no internal locking).
final class WriteJournal {
    static let magic = Array("QAJOURN1".utf8)
    static let frameHeaderSize = 24
    static let filePrefix = "journal-"
    static let fileSuffix = ".qaj"

    let directory: URL
    private let logger: Logger
    private var fd: Int32 = -1
    private var segment: URL?
    private var size = 0
    /// The sequence of the last appended (or recovered) record.
    private(set) var lastSequence: UInt64

    init(directory: URL, lastSequence: UInt64, logger: Logger) {
        self.directory = directory
        self.lastSequence = lastSequence
        self.logger = logger
    }

    deinit { closeSegment() }

    static func segmentName(firstSequence: UInt64) -> String {
        let hexDigits = String(firstSequence, radix: 16)
        return filePrefix + String(repeating: "0", count: max(0, 16 - hexDigits.count)) + hexDigits + fileSuffix
    }

    /// The segment files present in `directory`, oldest first.
    static func segments(in directory: URL) throws -> [URL] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw StoreError.io(path: directory.path, operation: "list journal segments", reason: "\(error)")
        }
        return names.filter { $0.hasPrefix(filePrefix) && $0.hasSuffix(fileSuffix) }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// Appends `records` with the next sequences and syncs them to disk.
    func append(_ records: [IngestRecord]) throws {
        if fd < 0 { try openSegment(firstSequence: lastSequence + 1) }
        let before = size
        var sequence = lastSequence
        do {
            for record in records {
                sequence += 1
                var header = [UInt8](repeating: 0, count: Self.frameHeaderSize)
                Self.writeFrameHeader(into: &header, length: record.bytes.count, sequence: sequence, checksum: record.checksum)
                try writeAll(header)
                try writeAll(record.bytes)
            }
            if fdatasync(fd) != 0 { throw posixError("fdatasync") }
        } catch {
            // Leave no partial frame behind: the next append must follow the last good one.
            if ftruncate(fd, off_t(before)) == 0 && lseek(fd, off_t(before), SEEK_SET) == off_t(before) {
                size = before
            } else {
                logger.error("cannot truncate the journal after a failed append; closing the segment",
                             metadata: ["segment": "\(segment?.path ?? "")"])
                closeSegment()
            }
            throw error
        }
        lastSequence = sequence
    }

    /// Fills a `frameHeaderSize`-byte frame header: length, sequence, payload checksum and the header's own check.
    static func writeFrameHeader(into header: inout [UInt8], length: Int, sequence: UInt64, checksum: UInt64) {
        header.withUnsafeMutableBytes { h in
            h.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 0, as: UInt32.self)
            h.storeBytes(of: sequence.littleEndian, toByteOffset: 4, as: UInt64.self)
            h.storeBytes(of: checksum.littleEndian, toByteOffset: 12, as: UInt64.self)
            let check = UInt32(truncatingIfNeeded: XXHash64.hash(UnsafeRawBufferPointer(rebasing: h[0..<20])))
            h.storeBytes(of: check.littleEndian, toByteOffset: 20, as: UInt32.self)
        }
    }

    /// The records of the current segment (everything since the last checkpoint), for re-applying
    /// them to a fresh transaction after an abort.
    func currentRecords() throws -> [JournalReader.Record] {
        guard let segment else { return [] }
        var reader = try JournalReader(url: segment)
        var records: [JournalReader.Record] = []
        while let r = try reader.next() { records.append(r) }
        if let tail = reader.tornTail {
            throw StoreError.corruptJournal(path: segment.path, offset: tail.offset, reason: "unexpected torn record in the live segment: \(tail.reason)")
        }
        return records
    }

    /// Called after a checkpoint committed everything appended: closes and deletes every segment.
    /// A segment that cannot be deleted is logged and skipped at the next open (its records are older
    /// than the checkpoint).
    func discardAll() {
        closeSegment()
        do {
            for url in try Self.segments(in: directory) {
                if unlink(url.path) != 0 {
                    logger.warning("cannot delete a checkpointed journal segment",
                                   metadata: ["segment": "\(url.path)", "errno": "\(errno)"])
                }
            }
        } catch {
            logger.warning("cannot list journal segments", metadata: ["error": "\(error)"])
        }
    }

    func closeSegment() {
        if fd >= 0 { close(fd) }
        fd = -1
        segment = nil
        size = 0
    }

    private func openSegment(firstSequence: UInt64) throws {
        let url = directory.appendingPathComponent(Self.segmentName(firstSequence: firstSequence))
        let f = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw StoreError.io(path: url.path, operation: "create journal segment", reason: String(cString: strerror(errno))) }
        fd = f
        segment = url
        size = 0
        do {
            try writeAll(Self.magic)
            if fdatasync(f) != 0 { throw posixError("fdatasync") }
            try Self.syncDirectory(directory)
        } catch {
            closeSegment()
            unlink(url.path)
            throw error
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            var done = 0
            while done < b.count {
                let n = write(fd, base + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw posixError("write")
                }
                done += n
            }
        }
        size += bytes.count
    }

    private func posixError(_ operation: String) -> StoreError {
        StoreError.io(path: segment?.path ?? directory.path, operation: "\(operation) journal", reason: String(cString: strerror(errno)))
    }

    /// Makes a created or removed directory entry durable.
    static func syncDirectory(_ directory: URL) throws {
        let d = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { throw StoreError.io(path: directory.path, operation: "open directory", reason: String(cString: strerror(errno))) }
        defer { close(d) }
        if fsync(d) != 0 { throw StoreError.io(path: directory.path, operation: "fsync directory", reason: String(cString: strerror(errno))) }
    }
}
