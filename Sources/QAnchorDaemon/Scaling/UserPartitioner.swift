import Synchronization

/// The function producers use to place a keyed record in a partition, so that any instance can tell which
/// partition — hence which owner — holds a user (`kafka.partitioner`). Both are the keyed paths of the common
/// clients: `murmur2` is the Java client's default (and librdkafka's `murmur2_random`, Kafka Streams, Flink);
/// `crc32` is librdkafka's default `consistent_random` (confluent-kafka for Python, Go, .NET; kcat).
public enum UserPartitioner: String, Sendable, CaseIterable {
    case murmur2
    case crc32

    /// The partition of `key` among `count` partitions.
    public func partition(ofKey key: [UInt8], count: Int32) -> Int32 {
        precondition(count > 0)
        switch self {
        case .murmur2: return Int32(bitPattern: Self.murmur2(key) & 0x7FFF_FFFF) % count
        case .crc32: return Int32(truncatingIfNeeded: UInt64(Self.crc32(key)) % UInt64(count))
        }
    }

    /// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`): seed 0x9747b28c, m 0x5bd1e995, r 24.
    static func murmur2(_ data: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: data.count)
        let blocks = data.count / 4
        for i in 0..<blocks {
            var k = UInt32(data[4 * i]) | UInt32(data[4 * i + 1]) << 8 | UInt32(data[4 * i + 2]) << 16 | UInt32(data[4 * i + 3]) << 24
            k = k &* m; k ^= k >> 24; k = k &* m
            h = h &* m; h ^= k
        }
        let tail = 4 * blocks
        switch data.count % 4 {
        case 3: h ^= UInt32(data[tail + 2]) << 16; fallthrough
        case 2: h ^= UInt32(data[tail + 1]) << 8; fallthrough
        case 1: h ^= UInt32(data[tail]); h = h &* m
        default: break
        }
        h ^= h >> 13; h = h &* m; h ^= h >> 15
        return h
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib and librdkafka's `rd_crc32`).
    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc = Self.crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}

/// Where a user lives: the configured partitioner and the input topics' partition count (learnt at start).
///
/// Threading: `Sendable`; the count is set once the topics' metadata is known and read from any thread.
final class UserRouting: Sendable {
    let partitioner: UserPartitioner
    private let count = Atomic<Int32>(0)

    init(partitioner: UserPartitioner) { self.partitioner = partitioner }

    var partitionCount: Int32 {
        get { count.load(ordering: .acquiring) }
        set { count.store(newValue, ordering: .releasing) }
    }

    /// The partition of a record key (the user id), or nil before the partition count is known.
    func partition(ofKey key: [UInt8]) -> Int32? {
        let n = partitionCount
        return n > 0 ? partitioner.partition(ofKey: key, count: n) : nil
    }

    func partition(ofUser userID: String) -> Int32? { partition(ofKey: Array(userID.utf8)) }
}
