import Foundation

/// Entry points for the coverage-guided fuzzers (`qanchor-fuzz`, docs/reliability.md): each reads untrusted bytes the
/// way the store does when it opens a journal or reads a record.
///
/// Contract under test: any input either decodes or throws a `StoreError` — never a trap, an out-of-bounds read, a
/// hang or an allocation the input's size does not justify. Where an encoder exists, what decodes must survive
/// encode → decode unchanged (a `precondition`, so the fuzzer reports a violation as a crash).
///
/// Not API: the `Fuzzing` SPI, for the fuzz executable only. Stateless; any thread.
@_spi(Fuzzing)
public enum StoreFuzzing {
    /// Modalities assumed by the ingest-record reader (its modality indexes must stay below this).
    static let modalities = 4

    /// A journal segment. First byte even: the rest is a whole segment file, read frame by frame (checksums, torn
    /// tails, corruption). Odd: the rest is one record payload, wrapped in a valid segment with correct checksums, so
    /// the fuzzer reaches the ingest-record decoder behind them. Every intact frame's payload is decoded in full.
    public static func journal(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let segment = mode & 1 == 0 ? body : framedSegment(payload: body, sequence: UInt64(mode))
        guard var reader = try? JournalReader(bytes: segment, url: URL(fileURLWithPath: "/fuzz/journal.qaj")) else { return }
        var frames = 0
        while let record = try? reader.next() {
            frames += 1
            precondition(record.offset >= WriteJournal.magic.count && record.offset < segment.count, "frame offset out of range")
            decodeIngestRecord(record.payload)
        }
        if mode & 1 == 1, reader.tornTail == nil { precondition(frames == 1, "a framed payload must read back as one frame") }
    }

    /// One stored record. The first byte picks the decoder (users header, event index, tabular snapshot, item key,
    /// user key, prefix-cache header, changelog entry, vector blob, ingest record); the rest is its input.
    public static func record(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        body.withUnsafeBytes { v in
            switch selector % 9 {
            case 0:
                if let header = try? UserHeader(decoding: v) {
                    let again = header.encoded().withUnsafeBytes { try? UserHeader(decoding: $0) }
                    precondition(again == header, "users header does not survive encode/decode")
                }
            case 1: _ = try? RecordCoding.decodeEventIndex(v)
            case 2: _ = try? RecordCoding.decodeSnapshot(v)
            case 3: _ = try? Keys.decodeItem(v, table: "fuzz")
            case 4:
                if let (_, rest) = try? Keys.decodeUser(v, table: "fuzz") { precondition(rest <= v.count) }
            case 5:
                if let header = try? PrefixKVHeader(v) {
                    let again = header.encoded.withUnsafeBytes { try? PrefixKVHeader($0) }
                    precondition(again?.tick == header.tick && again?.contentHash == header.contentHash
                                 && again?.fingerprint == header.fingerprint && again?.bodyBytes == header.bodyBytes,
                                 "prefix-cache header does not survive encode/decode")
                }
            case 6:
                // Second byte: key length (255 = a tombstone, no value).
                guard let keyLength = body.first else { return }
                let rest = body.dropFirst()
                let key = Array(rest.prefix(Int(keyLength)))
                let value: [UInt8]? = keyLength == 255 ? nil : Array(rest.dropFirst(key.count))
                _ = try? ChangelogEntry(key: key, value: value)
            case 7: _ = try? VectorCodec.decode(v, table: "fuzz", key: "fuzz")
            default: decodeIngestRecord(body)
            }
        }
    }

    /// Seed inputs made by the real encoders: (journal seeds, record seeds), each with its selector byte.
    public static func seeds() -> (journal: [[UInt8]], records: [[UInt8]]) {
        let user = UserKey(partition: 3, userID: "user-7")
        let now: Int64 = 1_767_225_600_000
        let batch = IngestBatch(events: [
            IngestEvent(user: user, modality: 0, eventID: "e1", timestampMs: now - 1000,
                        content: .text(vector: [0.5, -1, 2, 0.25], textHash: [UInt8](repeating: 7, count: 16))),
            IngestEvent(user: user, modality: 1, eventID: "e2", timestampMs: now - 2000, content: .tabular(features: [1, 2, 3])),
        ], offsets: [SourceOffset(topic: "events.bill", partition: 3, nextOffset: 42)],
           cacheEntries: [ContentCacheEntry(modality: 0, textHash: [UInt8](repeating: 9, count: 16), vector: [1, 0, -1, 0.5])],
           nowMs: now)
        let ingest = [IngestRecord(batch, encoding: .float16).bytes, IngestRecord(batch, encoding: .float32).bytes]
        let journal = ingest.map { [0] + framedSegment(payload: $0, sequence: 1) } + ingest.map { [1] + $0 }
            + [[0] + WriteJournal.magic]

        var header = UserHeader()
        header.refresh = RefreshRecord(version: 5, fingerprint: "abc123", refreshedAtMs: now, newestEventMs: now - 1000)
        header.dirtyMask = 3; header.firstDirtyMs = now; header.generation = 9
        let item = Keys.user(user) + [UserRecordTag.event.rawValue, 0] + [UInt8](repeating: 0x80, count: 8) + Array("e1".utf8)
        let prefix = PrefixKVHeader(tick: 12, contentHash: [UInt8](repeating: 1, count: 32), fingerprint: Array("fp".utf8),
                                    bodyBytes: 4096)
        let entries: [ChangelogEntry] = [
            .event(user: "user-7", modality: 0, eventID: "e1", timestampMs: now, textHash: [1, 2], vector: [1, 2]),
            .removedEvent(user: "user-7", modality: 0, eventID: "e1"),
            .snapshot(user: "user-7", modality: 1, eventID: "e2", timestampMs: now, features: [3, 4]),
            .offset(topic: "events.bill", nextOffset: 42),
        ]
        var records: [[UInt8]] = []
        records.append([0] + header.encoded())
        records.append([0] + UserHeader().encoded())
        records.append([1] + RecordCoding.encodeEventIndex(sequence: 77, textHash: [5, 6, 7]))
        records.append([3] + item)
        records.append([4] + Keys.user(user))
        records.append([5] + prefix.encoded)
        for encoding in VectorEncoding.allCases { records.append([7] + VectorCodec.encode([1, -2, 3.5], encoding: encoding)) }
        for bytes in ingest { records.append([8] + bytes) }
        for entry in entries {
            let key = entry.key
            if let value = entry.value(encoding: .float16), key.count < 255 {
                records.append([6, UInt8(key.count)] + key + value)
            } else {
                records.append([6, 255] + key)
            }
        }
        return (journal, records)
    }

    /// Reads an ingest record to its end, decoding every vector blob, as journal replay and the changelog do.
    static func decodeIngestRecord(_ payload: [UInt8]) {
        payload.withUnsafeBytes { bytes in
            guard var reader = try? IngestRecordReader(bytes, modalities: modalities) else { return }
            do {
                for _ in 0..<reader.eventCount {
                    let event = try reader.event()
                    precondition(event.modality < modalities)
                    _ = try VectorCodec.decode(event.blob, table: "fuzz", key: "event")
                }
                for _ in 0..<reader.offsetCount { _ = try reader.offset() }
                for _ in 0..<reader.cacheCount {
                    let entry = try reader.cacheEntry()
                    _ = try VectorCodec.decode(entry.blob, table: "fuzz", key: "cache")
                }
                try reader.finish()
            } catch {}
        }
    }

    /// A segment file holding `payload` as its only frame, with correct checksums (the layout of `WriteJournal`).
    static func framedSegment(payload: [UInt8], sequence: UInt64) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: WriteJournal.frameHeaderSize)
        WriteJournal.writeFrameHeader(into: &header, length: payload.count, sequence: sequence,
                                      checksum: XXHash64.hash(payload))
        return WriteJournal.magic + header + payload
    }
}
