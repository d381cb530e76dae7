/// One change to a partition's state as a key/value pair for a compacted log (the daemon's changelog topic,
/// docs/daemon.md "Changelog"): what is expensive to recompute (event vectors), what cannot be recomputed (refresh
/// versions, published outputs) and where the inputs were read up to. Replaying every entry of a partition, in
/// any order and any number of times, through `EventStore.ingest` / `restoreRefreshes` rebuilds that partition's
/// state: events are deduplicated and capped, a refresh record never moves a version back, offsets are positions.
///
/// Format (integers big-endian; `short` = u8 length + bytes; every value starts with a format byte, 1):
///
/// | kind | key | value |
/// |---|---|---|
/// | event | `01 user(short) m(u8) event-id(rest)` | `01 time(i64) text-hash(short) vector-blob` (null: tombstone) |
/// | snapshot | `02 user(short) m(u8)` | `01 time(i64) event-id(short) features-blob` |
/// | refresh | `03 user(short)` | `01 version(u64) refreshed(i64) newest-event(i64) fingerprint(u16 len) digest(short) n(u16) (scenario(short) bytes(u32 len))*n` |
/// | offset | `04 topic(rest)` | `01 next-offset(i64)` |
/// | version reserved | `05 user(short)` | `01 version(u64)` |
///
/// A vector blob is the store's: `tag u8 (1 fp16, 2 fp32) | count u32 | elements little-endian`. The user's
/// partition is the record's partition (not in the key).
public enum ChangelogEntry: Sendable, Equatable {
    /// A text event with its vector `h`.
    case event(user: String, modality: Int, eventID: String, timestampMs: Int64, textHash: [UInt8], vector: [Float])
    /// An event that left the state (superseded by K newer ones, or expired): a tombstone for compaction only —
    /// the cap and window remove it on replay anyway.
    case removedEvent(user: String, modality: Int, eventID: String)
    /// A tabular snapshot (the newest per user and modality wins).
    case snapshot(user: String, modality: Int, eventID: String, timestampMs: Int64, features: [Float])
    /// A user's last refresh: the record and the outputs it published.
    case refresh(user: String, record: RefreshRecord, outputs: [String: [UInt8]])
    /// The next offset to read of one input topic in this partition.
    case offset(topic: String, nextOffset: Int64)
    /// A user's records of this version are about to be published: whoever continues the user's state never reuses
    /// the version (it may reach the output topics without its refresh record, if the writer dies in between).
    case versionReserved(user: String, version: UInt64)

    static let formatVersion: UInt8 = 1

    /// The record key.
    public var key: [UInt8] {
        var w = ByteWriter(capacity: 48)
        switch self {
        case let .event(user, m, eventID, _, _, _), let .removedEvent(user, m, eventID):
            w.u8(1); w.short(user.utf8); w.u8(UInt8(truncatingIfNeeded: m)); w.append(eventID.utf8)
        case let .snapshot(user, m, _, _, _):
            w.u8(2); w.short(user.utf8); w.u8(UInt8(truncatingIfNeeded: m))
        case let .refresh(user, _, _):
            w.u8(3); w.short(user.utf8)
        case let .offset(topic, _):
            w.u8(4); w.append(topic.utf8)
        case let .versionReserved(user, _):
            w.u8(5); w.short(user.utf8)
        }
        return w.bytes
    }

    /// The record value (nil: a tombstone). Vectors and features are written in `encoding`.
    public func value(encoding: VectorEncoding) -> [UInt8]? {
        var w = ByteWriter(capacity: 64)
        switch self {
        case let .event(_, _, _, ts, hash, vector):
            w.u8(Self.formatVersion); w.i64(ts); w.short(hash); w.append(VectorCodec.encode(vector, encoding: encoding))
        case .removedEvent:
            return nil
        case let .snapshot(_, _, eventID, ts, features):
            w.u8(Self.formatVersion); w.i64(ts); w.short(eventID.utf8)
            w.append(VectorCodec.encode(features, encoding: .float32))  // features are exact: they are the input
        case let .refresh(_, record, outputs):
            w.u8(Self.formatVersion); w.u64(record.version); w.i64(record.refreshedAtMs); w.i64(record.newestEventMs)
            let fingerprint = Array(record.fingerprint.utf8)
            w.u16(UInt16(clamping: fingerprint.count)); w.append(fingerprint.prefix(Int(UInt16.max)))
            w.short(record.inputDigest)
            w.u16(UInt16(clamping: outputs.count))
            for (scenario, bytes) in outputs.sorted(by: { $0.key < $1.key }).prefix(Int(UInt16.max)) {
                w.short(scenario.utf8); w.u32(UInt32(clamping: bytes.count)); w.append(bytes)
            }
        case let .offset(_, next):
            w.u8(Self.formatVersion); w.i64(next)
        case let .versionReserved(_, version):
            w.u8(Self.formatVersion); w.u64(version)
        }
        return w.bytes
    }

    /// Decodes a record. Throws `StoreError.corruptRecord` (table "changelog") naming what is wrong.
    public init(key: [UInt8], value: [UInt8]?) throws {
        self = try key.withUnsafeBytes { k in
            var r = ByteReader(k, table: "changelog")
            let kind = try r.u8("entry kind")
            guard let value else {
                guard kind == 1 else {
                    throw StoreError.corruptRecord(table: "changelog", key: hex(k), reason: "a tombstone for entry kind \(kind)")
                }
                let user = try r.shortString("user id"), m = Int(try r.u8("modality"))
                return .removedEvent(user: user, modality: m, eventID: String(decoding: r.rest(), as: UTF8.self))
            }
            return try value.withUnsafeBytes { v in
                var d = ByteReader(v, table: "changelog")
                let format = try d.u8("format version")
                guard format == Self.formatVersion else {
                    throw StoreError.corruptRecord(table: "changelog", key: hex(k),
                                                   reason: "format version \(format) (this qanchor reads \(Self.formatVersion))")
                }
                let entry: ChangelogEntry
                switch kind {
                case 1:
                    let user = try r.shortString("user id"), m = Int(try r.u8("modality"))
                    let eventID = String(decoding: r.rest(), as: UTF8.self)
                    let ts = try d.i64("event time"), hash = try d.short("text hash")
                    let vector = try VectorCodec.decode(UnsafeRawBufferPointer(rebasing: v[d.offset...]), table: "changelog", key: hex(k))
                    d.offset = v.count
                    entry = .event(user: user, modality: m, eventID: eventID, timestampMs: ts, textHash: hash, vector: vector)
                case 2:
                    let user = try r.shortString("user id"), m = Int(try r.u8("modality"))
                    let ts = try d.i64("snapshot time"), eventID = try d.shortString("event id")
                    let features = try VectorCodec.decode(UnsafeRawBufferPointer(rebasing: v[d.offset...]), table: "changelog", key: hex(k))
                    d.offset = v.count
                    entry = .snapshot(user: user, modality: m, eventID: eventID, timestampMs: ts, features: features)
                case 3:
                    let user = try r.shortString("user id")
                    let version = try d.u64("version"), refreshed = try d.i64("refreshed time"), newest = try d.i64("newest event time")
                    let fingerprint = String(decoding: try d.bytes(Int(try d.u16("fingerprint length")), "fingerprint"), as: UTF8.self)
                    let digest = try d.short("input digest")
                    var outputs: [String: [UInt8]] = [:]
                    for _ in 0..<Int(try d.u16("output count")) {
                        let scenario = try d.shortString("scenario")
                        outputs[scenario] = try d.bytes(Int(try d.u32("output length")), "output of \(scenario)")
                    }
                    entry = .refresh(user: user, record: RefreshRecord(version: version, fingerprint: fingerprint, refreshedAtMs: refreshed,
                                                                       newestEventMs: newest, inputDigest: digest), outputs: outputs)
                case 4:
                    entry = .offset(topic: String(decoding: r.rest(), as: UTF8.self), nextOffset: try d.i64("next offset"))
                case 5:
                    entry = .versionReserved(user: try r.shortString("user id"), version: try d.u64("version"))
                default:
                    throw StoreError.corruptRecord(table: "changelog", key: hex(k), reason: "unknown entry kind \(kind)")
                }
                guard d.isAtEnd else {
                    throw StoreError.corruptRecord(table: "changelog", key: hex(k), reason: "\(d.remaining) bytes after the value")
                }
                return entry
            }
        }
    }
}

extension VectorEncoding {
    /// `vector` as it reads back after being stored in this encoding (float16: every element rounded to the nearest
    /// binary16; float32: unchanged).
    public func rounded(_ vector: [Float]) -> [Float] {
        guard self == .float16 else { return vector }
        return VectorCodec.encode(vector, encoding: .float16).withUnsafeBytes { blob in
            (try? VectorCodec.decode(blob, table: "", key: "")) ?? vector
        }
    }
}
