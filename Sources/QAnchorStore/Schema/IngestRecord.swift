/// An ingest request in encoded form. The caller builds it (vectors encoded to the store's encoding)
/// before the request is queued; the writer thread applies it; in journaled mode the same bytes are the
/// journal record's payload. Live ingest and journal replay therefore run one decode-and-apply path.
///
/// Layout (integers big-endian, times sign-flipped like keys):
/// ```
/// format u8 (= 1) | now time | event count u32 | offset count u32 | cache count u32
/// event:  U (partition u32 | user id short) | modality u8 | event id short | time | kind u8 (1 text,
///         2 tabular) | [text hash short, text only] | blob length u32 | vector blob
/// offset: partition u32 | topic short | next offset i64
/// cache:  modality u8 | text hash short | blob length u32 | vector blob
/// ```
/// Invariant: built only from a validated `IngestBatch` (lengths fit their fields).
struct IngestRecord: Sendable {
    static let format: UInt8 = 1
    /// The encoded request.
    let bytes: [UInt8]
    /// Events in the request (for checkpoint accounting).
    let eventCount: Int
    /// XXH64 of `bytes`, computed by the caller so the writer thread only frames the record.
    let checksum: UInt64

    /// Encodes a validated batch; vectors are encoded with `encoding`.
    init(_ batch: IngestBatch, encoding: VectorEncoding) {
        var size = 1 + 8 + 12
        for e in batch.events {
            size += 4 + 1 + e.user.userID.utf8.count + 1 + 1 + e.eventID.utf8.count + 8 + 1 + 4
            switch e.content {
            case let .text(vector, hash): size += 1 + hash.count + VectorCodec.encodedSize(count: vector.count, encoding: encoding)
            case let .tabular(features): size += VectorCodec.encodedSize(count: features.count, encoding: encoding)
            }
        }
        for o in batch.offsets { size += 4 + 1 + o.topic.utf8.count + 8 }
        for c in batch.cacheEntries { size += 1 + 1 + c.textHash.count + 4 + VectorCodec.encodedSize(count: c.vector.count, encoding: encoding) }

        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var w = RawWriter(base: UnsafeMutableRawPointer(buffer.baseAddress!))
            w.u8(Self.format); w.time(batch.nowMs)
            w.u32(UInt32(batch.events.count)); w.u32(UInt32(batch.offsets.count)); w.u32(UInt32(batch.cacheEntries.count))
            for e in batch.events {
                w.u32(UInt32(bitPattern: e.user.partition)); w.short(e.user.userID.utf8)
                w.u8(UInt8(e.modality)); w.short(e.eventID.utf8); w.time(e.timestampMs)
                switch e.content {
                case let .text(vector, hash):
                    w.u8(1); w.short(hash); w.blob(vector, encoding: encoding)
                case let .tabular(features):
                    w.u8(2); w.blob(features, encoding: encoding)
                }
            }
            for o in batch.offsets {
                w.u32(UInt32(bitPattern: o.partition)); w.short(o.topic.utf8); w.u64(UInt64(bitPattern: o.nextOffset))
            }
            for c in batch.cacheEntries {
                w.u8(UInt8(c.modality)); w.short(c.textHash); w.blob(c.vector, encoding: encoding)
            }
            precondition(w.offset == size, "ingest record size mismatch")
            initialized = size
        }
        eventCount = batch.events.count
        checksum = XXHash64.hash(bytes)
    }
}

/// Writes big-endian integers and byte strings through a raw pointer into a buffer sized beforehand.
private struct RawWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0

    mutating func u8(_ v: UInt8) { base.storeBytes(of: v, toByteOffset: offset, as: UInt8.self); offset += 1 }
    mutating func u32(_ v: UInt32) { base.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt32.self); offset += 4 }
    mutating func u64(_ v: UInt64) { base.storeBytes(of: v.bigEndian, toByteOffset: offset, as: UInt64.self); offset += 8 }
    mutating func time(_ ms: Int64) { u64(UInt64(bitPattern: ms) ^ (1 << 63)) }
    mutating func short<C: Collection>(_ b: C) where C.Element == UInt8 {
        u8(UInt8(b.count))
        for x in b { base.storeBytes(of: x, toByteOffset: offset, as: UInt8.self); offset += 1 }
    }
    mutating func blob(_ v: [Float], encoding: VectorEncoding) {
        let n = VectorCodec.encodedSize(count: v.count, encoding: encoding)
        u32(UInt32(n))
        VectorCodec.encode(v, encoding: encoding, into: UnsafeMutableRawBufferPointer(start: base + offset, count: n))
        offset += n
    }
}

/// Decodes an `IngestRecord` in place: byte ranges are views into the record (valid while it is).
struct IngestRecordReader {
    /// One decoded event; `user` is the `U` key bytes, `blob` the encoded vector.
    struct Event {
        var userBytes: UnsafeRawBufferPointer
        var user: UserKey
        var modality: Int
        var eventID: UnsafeRawBufferPointer
        var timestampMs: Int64
        var isText: Bool
        var textHash: UnsafeRawBufferPointer
        var blob: UnsafeRawBufferPointer
    }

    private var r: ByteReader
    let nowMs: Int64
    let eventCount: Int
    let offsetCount: Int
    let cacheCount: Int
    private let modalities: Int

    /// Reads the header; `modalities` bounds the modality indexes (a record from a store whose
    /// configuration changed is reported, not trusted).
    init(_ bytes: UnsafeRawBufferPointer, modalities: Int) throws {
        r = ByteReader(bytes, table: "ingest record")
        let format = try r.u8("format")
        guard format == IngestRecord.format else { throw r.corrupt("unknown ingest record format \(format)") }
        nowMs = try r.time("now")
        eventCount = Int(try r.u32("event count"))
        offsetCount = Int(try r.u32("offset count"))
        cacheCount = Int(try r.u32("cache entry count"))
        self.modalities = modalities
    }

    private mutating func modality() throws -> Int {
        let m = Int(try r.u8("modality"))
        guard m < modalities else { throw r.corrupt("modality \(m) outside 0..<\(modalities)") }
        return m
    }

    private mutating func view(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try r.view(n, what)
    }

    mutating func event() throws -> Event {
        let start = r.offset
        let partition = Int32(bitPattern: try r.u32("partition"))
        let idLength = Int(try r.u8("user id length"))
        let id = try view(idLength, "user id")
        let userBytes = UnsafeRawBufferPointer(rebasing: r.buffer[start..<r.offset])
        let m = try modality()
        let eid = try view(Int(try r.u8("event id length")), "event id")
        let ts = try r.time("event time")
        let kind = try r.u8("kind")
        guard kind == 1 || kind == 2 else { throw r.corrupt("unknown event kind \(kind)") }
        let hash = kind == 1 ? try view(Int(try r.u8("text hash length")), "text hash") : UnsafeRawBufferPointer(start: nil, count: 0)
        let blob = try view(Int(try r.u32("blob length")), "vector blob")
        return Event(userBytes: userBytes, user: UserKey(partition: partition, userID: String(decoding: id, as: UTF8.self)),
                     modality: m, eventID: eid, timestampMs: ts, isText: kind == 1, textHash: hash, blob: blob)
    }

    mutating func offset() throws -> SourceOffset {
        let p = Int32(bitPattern: try r.u32("offset partition"))
        let topic = try r.shortString("topic")
        return SourceOffset(topic: topic, partition: p, nextOffset: try r.i64("next offset"))
    }

    mutating func cacheEntry() throws -> (modality: Int, hash: UnsafeRawBufferPointer, blob: UnsafeRawBufferPointer) {
        let m = try modality()
        let hash = try view(Int(try r.u8("text hash length")), "text hash")
        return (m, hash, try view(Int(try r.u32("blob length")), "vector blob"))
    }

    /// Fails unless the whole record was consumed.
    func finish() throws {
        guard r.isAtEnd else { throw r.corrupt("\(r.remaining) bytes after the last entry") }
    }
}
