/// XXH64 (Yann Collet's xxHash, 64-bit variant): the checksum of journal records. Chosen over a
/// software CRC because it runs at several GB/s in plain Swift; a 64-bit hash misses a torn or flipped
/// record with probability 2⁻⁶⁴. Checked against zstd's frame checksums (the low 32 bits of XXH64)
/// by `ops/store/make_xxh64_goldens.py`.
///
/// Math (little-endian 64-bit lanes, all arithmetic mod 2⁶⁴, rotl = rotate left):
/// ```
/// round(acc, x)  = rotl(acc + x·P2, 31)·P1
/// ≥ 32 bytes:    four accumulators v1..v4 = seed+P1+P2, seed+P2, seed, seed−P1 take 32-byte stripes;
///                h = rotl(v1,1)+rotl(v2,7)+rotl(v3,12)+rotl(v4,18), then h = (h ^ round(0,vi))·P1 + P4 for each vi
/// else:          h = seed + P5
/// h += length; tail: 8-byte words h = rotl(h ^ round(0,x), 27)·P1 + P4; a 4-byte word
///                h = rotl(h ^ x·P1, 23)·P2 + P3; bytes h = rotl(h ^ b·P5, 11)·P1
/// avalanche:     h ^= h>>33; h·=P2; h ^= h>>29; h·=P3; h ^= h>>32
/// ```
enum XXHash64 {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) private static func round(_ acc: UInt64, _ x: UInt64) -> UInt64 { rotl(acc &+ x &* p2, 31) &* p1 }
    @inline(__always) private static func merge(_ h: UInt64, _ v: UInt64) -> UInt64 { (h ^ round(0, v)) &* p1 &+ p4 }

    /// The XXH64 of `bytes` with `seed`.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        guard let p = bytes.baseAddress else { return finish(seed &+ p5 &+ 0, p: nil, from: 0, count: 0) }
        @inline(__always) func word(_ i: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) }
        var i = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2, v2 = seed &+ p2, v3 = seed, v4 = seed &- p1
            while i + 32 <= n {
                v1 = round(v1, word(i)); v2 = round(v2, word(i + 8)); v3 = round(v3, word(i + 16)); v4 = round(v4, word(i + 24))
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(merge(merge(merge(h, v1), v2), v3), v4)
        } else {
            h = seed &+ p5
        }
        return finish(h &+ UInt64(n), p: p, from: i, count: n)
    }

    /// The tail (< 32 bytes from `from`) and the avalanche.
    private static func finish(_ start: UInt64, p: UnsafeRawPointer?, from: Int, count n: Int) -> UInt64 {
        var h = start
        var i = from
        if let p {
            while i + 8 <= n {
                h = rotl(h ^ round(0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))), 27) &* p1 &+ p4
                i += 8
            }
            if i + 4 <= n {
                h = rotl(h ^ (UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* p1), 23) &* p2 &+ p3
                i += 4
            }
            while i < n {
                h = rotl(h ^ (UInt64(p.load(fromByteOffset: i, as: UInt8.self)) &* p5), 11) &* p1
                i += 1
            }
        }
        h ^= h >> 33; h = h &* p2; h ^= h >> 29; h = h &* p3; h ^= h >> 32
        return h
    }

    static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 { bytes.withUnsafeBytes { hash($0, seed: seed) } }
}
