/// Appends fixed-width big-endian integers and byte strings: the order-preserving encoding of keys.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(shift)) & 0xFF)) }
    }
    mutating func u64(_ v: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(shift)) & 0xFF)) }
    }
    /// A signed time that sorts correctly as bytes (sign bit flipped).
    mutating func time(_ ms: Int64) { u64(UInt64(bitPattern: ms) ^ (1 << 63)) }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func append<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }
    /// One length byte, then the bytes. Inputs are validated to ≤ 255 bytes before keys are built; a
    /// longer one (never stored) is cut rather than trapping, so a lookup with it simply finds nothing.
    mutating func short<C: Collection>(_ b: C) where C.Element == UInt8 {
        let n = min(b.count, 255)
        bytes.append(UInt8(n)); bytes.append(contentsOf: b.prefix(n))
    }
}

/// Reads what `ByteWriter` wrote, with bounds checks that report the table and key on failure.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    var offset: Int
    let table: String

    init(_ buffer: UnsafeRawBufferPointer, table: String, offset: Int = 0) {
        self.buffer = buffer
        self.table = table
        self.offset = offset
    }

    var remaining: Int { buffer.count - offset }
    var isAtEnd: Bool { offset == buffer.count }

    private func need(_ n: Int, _ what: String) throws {
        if n < 0 || remaining < n {
            throw StoreError.corruptRecord(table: table, key: hex(buffer),
                                           reason: "truncated \(what): need \(n) bytes at offset \(offset), have \(remaining)")
        }
    }

    mutating func u8(_ what: String = "byte") throws -> UInt8 {
        try need(1, what); defer { offset += 1 }
        return buffer[offset]
    }
    mutating func u16(_ what: String = "u16") throws -> UInt16 {
        try need(2, what); defer { offset += 2 }
        return UInt16(buffer[offset]) << 8 | UInt16(buffer[offset + 1])
    }
    mutating func u32(_ what: String = "u32") throws -> UInt32 {
        try need(4, what)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(buffer[offset + i]) }
        offset += 4
        return v
    }
    mutating func u64(_ what: String = "u64") throws -> UInt64 {
        try need(8, what)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(buffer[offset + i]) }
        offset += 8
        return v
    }
    mutating func time(_ what: String = "time") throws -> Int64 { Int64(bitPattern: try u64(what) ^ (1 << 63)) }
    mutating func i64(_ what: String = "i64") throws -> Int64 { Int64(bitPattern: try u64(what)) }
    mutating func bytes(_ n: Int, _ what: String = "bytes") throws -> [UInt8] {
        try need(n, what); defer { offset += n }
        return Array(buffer[offset..<(offset + n)])
    }
    mutating func short(_ what: String = "short string") throws -> [UInt8] {
        let n = Int(try u8(what))
        return try bytes(n, what)
    }
    mutating func shortString(_ what: String) throws -> String {
        String(decoding: try short(what), as: UTF8.self)
    }
    mutating func rest() -> [UInt8] {
        defer { offset = buffer.count }
        return Array(buffer[offset...])
    }
    /// The next `n` bytes as a view (no copy), consuming them.
    mutating func view(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(n, what); defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
    }
    /// A `corruptRecord` error for this buffer at the current offset.
    func corrupt(_ reason: String) -> StoreError {
        StoreError.corruptRecord(table: table, key: "offset \(offset)", reason: reason)
    }
    /// The remaining bytes as a view (no copy), consuming them.
    mutating func restView() -> UnsafeRawBufferPointer {
        defer { offset = buffer.count }
        return UnsafeRawBufferPointer(rebasing: buffer[offset...])
    }
}
