/// How stored vectors (`h`, tabular features) are encoded on disk.
///
/// - `float16`: IEEE binary16, round-to-nearest-even; half the bytes of `float32`. Relative error
///   ≤ 2⁻¹¹ (4.9e-4) for |x| in [6.1e-5, 65504]; smaller values lose precision (subnormals), larger
///   ones become ±inf and are rejected at ingest. Measured on BERT-like vectors in docs/store.md.
/// - `float32`: exact.
///
/// Every stored vector carries its own encoding tag, so changing the setting affects new writes only
/// and a store may hold both.
public enum VectorEncoding: String, Sendable, CaseIterable, Codable {
    case float16
    case float32

    var tag: UInt8 { self == .float16 ? 1 : 2 }
    var bytesPerElement: Int { self == .float16 ? 2 : 4 }
}

/// Encodes and decodes vector blobs: `tag u8 | count u32 big-endian | elements little-endian`.
enum VectorCodec {
    static let headerSize = 5

    static func encodedSize(count: Int, encoding: VectorEncoding) -> Int {
        headerSize + count * encoding.bytesPerElement
    }

    /// Writes `vector` into `out` (exactly `encodedSize` bytes).
    static func encode(_ vector: [Float], encoding: VectorEncoding, into out: UnsafeMutableRawBufferPointer) {
        out[0] = encoding.tag
        let n = UInt32(vector.count)
        out[1] = UInt8(n >> 24); out[2] = UInt8((n >> 16) & 0xFF); out[3] = UInt8((n >> 8) & 0xFF); out[4] = UInt8(n & 0xFF)
        guard let base = out.baseAddress else { return }
        let body = base + headerSize
        vector.withUnsafeBufferPointer { v in
            switch encoding {
            case .float32:
                for (i, x) in v.enumerated() { body.storeBytes(of: x.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            case .float16:
                // Branch-free pass (vectorizes) for normal halves; the rare others are redone exactly.
                var outliers: UInt32 = 0
                for i in 0..<v.count {
                    let (bits, normal) = normalHalfBits(v[i])
                    body.storeBytes(of: bits.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    outliers |= normal ? 0 : 1
                }
                if outliers != 0 {
                    for i in 0..<v.count where !normalHalfBits(v[i]).normal {
                        body.storeBytes(of: halfBits(v[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    }
                }
            }
        }
    }

    static func encode(_ vector: [Float], encoding: VectorEncoding) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: encodedSize(count: vector.count, encoding: encoding))
        out.withUnsafeMutableBytes { encode(vector, encoding: encoding, into: $0) }
        return out
    }

    /// Decodes a blob; `table`/`key` name the record in errors.
    static func decode(_ blob: UnsafeRawBufferPointer, table: String, key: @autoclosure () -> String) throws -> [Float] {
        guard blob.count >= headerSize else {
            throw StoreError.corruptRecord(table: table, key: key(), reason: "vector blob of \(blob.count) bytes is shorter than its header")
        }
        let count = Int(UInt32(blob[1]) << 24 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 8 | UInt32(blob[4]))
        let body = blob.baseAddress! + headerSize
        switch blob[0] {
        case 1:
            guard blob.count == headerSize + 2 * count else {
                throw StoreError.corruptRecord(table: table, key: key(), reason: "fp16 vector of \(count) elements needs \(headerSize + 2 * count) bytes, found \(blob.count)")
            }
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                decodeHalves(body, count: count, into: out.baseAddress!)
                initialized = count
            }
        case 2:
            guard blob.count == headerSize + 4 * count else {
                throw StoreError.corruptRecord(table: table, key: key(), reason: "fp32 vector of \(count) elements needs \(headerSize + 4 * count) bytes, found \(blob.count)")
            }
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
                initialized = count
            }
        default:
            throw StoreError.corruptRecord(table: table, key: key(), reason: "unknown vector encoding tag \(blob[0])")
        }
    }
}

/// Widens `count` little-endian binary16 values at `source` to Float through `Float16Table`
/// (≈0.3 ns per element here; a branch-free bit formula measured 0.44 ns, Swift's SIMD types far slower).
func decodeHalves(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
    Float16Table.values.withUnsafeBufferPointer { table in
        for i in 0..<count {
            out[i] = table[Int(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))]
        }
    }
}

/// binary16 bits of `x`, rounded to nearest even — the same result as `Float16(x).bitPattern`, without
/// the library call (which dominated ingest profiles).
///
/// Normal halves (2⁻¹⁴ ≤ |x| < 65520): rebias the exponent (−112 << 23), add 0xFFF plus the lowest kept
/// mantissa bit (round half to even), keep the top bits: `h = (x + (−112 << 23) + 0xFFF + odd) >> 13`.
/// Overflow rounds into the infinity pattern 0x7C00 by itself. Zero, subnormals, inf and NaN take
/// the library path.
@inline(__always)
func halfBits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    guard magnitude >= 0x3880_0000 && magnitude < 0x4780_0000 else { return Float16(x).bitPattern }
    let odd = (magnitude >> 13) & 1
    let rounded = magnitude &- (112 << 23) &+ 0xFFF &+ odd
    return sign | UInt16(truncatingIfNeeded: rounded >> 13)
}

/// `halfBits` for normal halves without a branch, and whether `x` is in that range (otherwise the
/// bits are meaningless and `halfBits` must be used).
@inline(__always)
func normalHalfBits(_ x: Float) -> (bits: UInt16, normal: Bool) {
    let bits = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    let odd = (magnitude >> 13) & 1
    let rounded = magnitude &- (112 << 23) &+ 0xFFF &+ odd
    return (sign | UInt16(truncatingIfNeeded: rounded >> 13), magnitude >= 0x3880_0000 && magnitude < 0x4780_0000)
}

/// All 65 536 binary16 values as Float: decoding is one table load per element.
enum Float16Table {
    static let values: [Float] = (0..<65536).map { Float(Float16(bitPattern: UInt16($0))) }
}
