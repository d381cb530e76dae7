import Foundation

/// Precision of serialised decoder-state values.
public enum DecoderStatePrecision: UInt32, Sendable {
    /// IEEE binary16 (half the bytes; values round to 11 significant bits).
    case fp16 = 1
    /// IEEE binary32 (exact).
    case fp32 = 2
}

extension DecoderState {
    private static let magic: UInt32 = 0x5641_4B51   // "QKAV" little-endian
    private static let version: UInt32 = 1
    private static let headerBytes = 32

    /// The state as bytes: a 32-byte little-endian header (magic, version, precision, layers, kvHeads, headDim, length,
    /// positions left out = `nextPosition − length`, 0 for most states) followed by the K/V values in the in-memory
    /// layout, fp16 or fp32.
    public func serialized(precision: DecoderStatePrecision) -> Data {
        let n = storage.count
        var data = Data(count: Self.headerBytes + n * (precision == .fp16 ? 2 : 4))
        data.withUnsafeMutableBytes { raw in
            let header = [Self.magic, Self.version, precision.rawValue, UInt32(layers), UInt32(kvHeads), UInt32(headDim),
                          UInt32(length), UInt32(nextPosition - length)]
            for (i, v) in header.enumerated() { raw.storeBytes(of: v.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            let body = raw.baseAddress! + Self.headerBytes
            switch precision {
            case .fp32:
                for i in 0..<n { body.storeBytes(of: storage.base[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            case .fp16:
                for i in 0..<n { body.storeBytes(of: Float16(storage.base[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
        }
        return data
    }

    /// Restores a state from ``serialized(precision:)`` bytes. Throws ``ModelInputError/badStateBytes(detail:)`` when the
    /// bytes are truncated, have another magic/version, or sizes that do not match their length.
    public convenience init(serialized data: Data) throws {
        func bad(_ detail: String) -> ModelInputError { .badStateBytes(detail: detail) }
        guard data.count >= Self.headerBytes else { throw bad("\(data.count) bytes, shorter than the 32-byte header") }
        let header = data.withUnsafeBytes { raw in
            (0..<8).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        guard header[0] == Self.magic else { throw bad("wrong magic number") }
        guard header[1] == Self.version else { throw bad("version \(header[1]), expected \(Self.version)") }
        guard let precision = DecoderStatePrecision(rawValue: header[2]) else { throw bad("unknown precision \(header[2])") }
        let (layers, kvHeads, headDim, length) = (Int(header[3]), Int(header[4]), Int(header[5]), Int(header[6]))
        guard layers > 0, kvHeads > 0, headDim > 0 else { throw bad("zero layers, heads or head width") }
        // Every factor comes from the input: multiply without trapping (a found crash, docs/reliability.md).
        let elementBytes = precision == .fp16 ? 2 : 4
        var count = 1, overflow = false
        for factor in [layers, 2, kvHeads, headDim, length] {
            let (product, over) = count.multipliedReportingOverflow(by: factor)
            count = product
            overflow = overflow || over
        }
        let (bodyBytes, over) = count.multipliedReportingOverflow(by: elementBytes)
        guard !overflow, !over, data.count - Self.headerBytes == bodyBytes else {
            throw bad("body has \(data.count - Self.headerBytes) bytes, header implies \(count) values × \(elementBytes)")
        }
        self.init(length: length, layers: layers, kvHeads: kvHeads, headDim: headDim, nextPosition: length + Int(header[7]))
        data.withUnsafeBytes { raw in
            let body = raw.baseAddress! + Self.headerBytes
            switch precision {
            case .fp32:
                for i in 0..<count {
                    storage.base[i] = Float(bitPattern: UInt32(littleEndian: body.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case .fp16:
                for i in 0..<count {
                    storage.base[i] = Float(halfBits: UInt16(littleEndian: body.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        }
    }
}
