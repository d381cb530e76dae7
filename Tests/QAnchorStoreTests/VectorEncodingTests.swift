import Foundation
import Testing
@testable import QAnchorStore

@Suite struct VectorEncodingTests {
    @Test func float32IsExact() throws {
        let v: [Float] = [0, -0, 1e-30, -3.5, .greatestFiniteMagnitude, 0.1]
        let blob = VectorCodec.encode(v, encoding: .float32)
        #expect(blob.count == 5 + 4 * v.count)
        let back = try blob.withUnsafeBytes { try VectorCodec.decode($0, table: "t", key: "k") }
        #expect(back.map(\.bitPattern) == v.map(\.bitPattern))
    }

    @Test func float16RoundTripErrorIsWithinHalfAnULP() throws {
        var rng = SystemRandomNumberGenerator()
        let v: [Float] = (0..<4096).map { _ in Float.random(in: -8...8, using: &rng) }
        let blob = VectorCodec.encode(v, encoding: .float16)
        #expect(blob.count == 5 + 2 * v.count)
        let back = try blob.withUnsafeBytes { try VectorCodec.decode($0, table: "t", key: "k") }
        for (x, y) in zip(v, back) where abs(x) >= 6.2e-5 {
            // binary16 has an 11-bit significand: relative rounding error ≤ 2^-11.
            #expect(abs(x - y) <= abs(x) * 0x1p-11, "\(x) -> \(y)")
        }
        // Exactly representable values survive unchanged.
        let exact: [Float] = [0.25, -2, 1024, 0.5]
        let e = try VectorCodec.encode(exact, encoding: .float16).withUnsafeBytes { try VectorCodec.decode($0, table: "t", key: "k") }
        #expect(e == exact)
    }

    @Test func fastHalfConversionMatchesTheStandardLibrary() {
        // Every float whose low 10 bits are a fixed pattern (2^22 values: all exponents, signs, the
        // mantissa bits that decide rounding, ties included), plus the edges.
        var mismatches = 0
        for high in stride(from: UInt32(0), to: 1 << 22, by: 1) {
            let bits = high << 10 | (high & 0x3FF)
            let x = Float(bitPattern: bits)
            if !x.isNaN && halfBits(x) != Float16(x).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
        for x: Float in [65504, 65519.99, 65520, -65520, 6.1035156e-05, 6.1035153e-05, 0x1p-14, 0x1.002p0, 0x1.001p0, 0x1.003p0] {
            #expect(halfBits(x) == Float16(x).bitPattern, "\(x)")
        }
    }

    @Test func vectorEncodingMatchesTheStandardLibraryIncludingOutliers() {
        // The encoder's branch-free pass plus its fix-up of non-normal halves, on 768-element vectors
        // drawn from the same 2^22 patterns (zeros, subnormals, overflow, infinities included).
        let patterns: [Float] = (0..<(1 << 22)).compactMap { (high: UInt32) -> Float? in
            let x = Float(bitPattern: high << 10 | (high & 0x3FF))
            return x.isNaN ? nil : x
        }
        var mismatches = 0
        var outlierVectors = 0
        for start in stride(from: 0, to: patterns.count, by: 768 * 97) {
            let v = Array(patterns[start..<min(start + 768, patterns.count)])
            if v.contains(where: { !normalHalfBits($0).normal }) { outlierVectors += 1 }
            let blob = VectorCodec.encode(v, encoding: .float16)
            for (i, x) in v.enumerated() {
                let stored = UInt16(blob[5 + 2 * i]) | UInt16(blob[6 + 2 * i]) << 8
                if stored != Float16(x).bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        #expect(outlierVectors > 0, "the fix-up path was exercised")
    }

    @Test func halfDecodingMatchesTheStandardLibraryForAllHalves() {
        // All 65 536 patterns against the standard library's widening.
        let halves: [UInt16] = (0...0xFFFF).map { UInt16($0) } + [0x3C00, 0x8001, 0x7C00]
        var decoded = [Float](repeating: 0, count: halves.count)
        halves.withUnsafeBytes { src in
            decoded.withUnsafeMutableBufferPointer { decodeHalves(src.baseAddress!, count: halves.count, into: $0.baseAddress!) }
        }
        var mismatches = 0
        for (h, f) in zip(halves, decoded) {
            let reference = Float(Float16(bitPattern: h))
            if reference.isNaN ? !f.isNaN : f.bitPattern != reference.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func malformedBlobsAreReportedNotCrashed() {
        let cases: [[UInt8]] = [[], [1, 0, 0, 0], [1, 0, 0, 0, 2, 0], [9, 0, 0, 0, 0], [2, 0, 0, 0, 1, 0, 0]]
        for blob in cases {
            #expect(throws: StoreError.self) {
                _ = try blob.withUnsafeBytes { try VectorCodec.decode($0, table: "vectors", key: "7") }
            }
        }
    }
}
