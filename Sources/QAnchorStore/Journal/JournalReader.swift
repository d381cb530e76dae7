import Foundation

/// Reads the frames of one journal segment (format in `WriteJournal`), checking every checksum.
///
/// An incomplete or damaged frame at the very end of the file — nothing but zeros after it — is a torn
/// tail (an append interrupted by a crash, never acknowledged): iteration stops and `tornTail` says where.
/// A damaged frame followed by more data is corruption and throws `StoreError.corruptJournal` naming
/// the file and offset.
struct JournalReader {
    /// One intact frame.
    struct Record {
        let sequence: UInt64
        let payload: [UInt8]
        /// Byte offset of the frame in its file.
        let offset: Int
    }

    /// Where the torn tail starts and what was wrong with it.
    struct TornTail: Equatable {
        let offset: Int
        let reason: String
    }

    let url: URL
    private let data: [UInt8]
    private var offset: Int
    private(set) var tornTail: TornTail?

    init(url: URL) throws {
        guard let d = FileManager.default.contents(atPath: url.path) else {
            throw StoreError.io(path: url.path, operation: "read journal segment", reason: "cannot read the file")
        }
        try self.init(bytes: [UInt8](d), url: url)
    }

    /// Reads a segment already in memory; `url` names it in errors.
    init(bytes: [UInt8], url: URL) throws {
        self.url = url
        data = bytes
        let magic = WriteJournal.magic
        if data.count < magic.count {
            // Crash while the segment was created: only a prefix of the magic (or nothing) is there.
            guard data.elementsEqual(magic.prefix(data.count)) || data.allSatisfy({ $0 == 0 }) else {
                throw StoreError.corruptJournal(path: url.path, offset: 0, reason: "not a qanchor journal (bad magic)")
            }
            offset = data.count
            tornTail = TornTail(offset: 0, reason: "segment shorter than its magic")
            return
        }
        guard data.prefix(magic.count).elementsEqual(magic) else {
            throw StoreError.corruptJournal(path: url.path, offset: 0, reason: "not a qanchor journal (bad magic)")
        }
        offset = magic.count
    }

    /// The next intact frame, nil at the end of the file or at a torn tail.
    mutating func next() throws -> Record? {
        guard tornTail == nil, offset < data.count else { return nil }
        let start = offset
        let headerSize = WriteJournal.frameHeaderSize
        guard data.count - start >= headerSize else { return torn(start, "incomplete frame header") }
        let (length, sequence, checksum, headerOK) = data.withUnsafeBytes { b -> (Int, UInt64, UInt64, Bool) in
            let h = UnsafeRawBufferPointer(rebasing: b[start..<(start + headerSize)])
            let check = UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
            let ok = check == UInt32(truncatingIfNeeded: XXHash64.hash(UnsafeRawBufferPointer(rebasing: h[0..<20])))
            return (Int(UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
                    UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 4, as: UInt64.self)),
                    UInt64(littleEndian: h.loadUnaligned(fromByteOffset: 12, as: UInt64.self)), ok)
        }
        guard headerOK else {
            if onlyZeros(after: start) { return torn(start, "zero-filled frame header") }
            throw StoreError.corruptJournal(path: url.path, offset: start, reason: "frame header checksum mismatch with data after it")
        }
        let end = start + headerSize + length
        guard end <= data.count else { return torn(start, "frame of \(length) bytes extends past the end of the file") }
        let payload = Array(data[(start + headerSize)..<end])
        guard XXHash64.hash(payload) == checksum else {
            if onlyZeros(after: end) { return torn(start, "payload checksum mismatch in the last frame") }
            throw StoreError.corruptJournal(path: url.path, offset: start,
                                            reason: "payload checksum mismatch in record \(sequence) with data after it")
        }
        offset = end
        return Record(sequence: sequence, payload: payload, offset: start)
    }

    private mutating func torn(_ at: Int, _ reason: String) -> Record? {
        tornTail = TornTail(offset: at, reason: reason)
        return nil
    }

    private func onlyZeros(after index: Int) -> Bool {
        index >= data.count || data[index...].allSatisfy { $0 == 0 }
    }
}
