import Foundation
import Testing
@testable import QAnchorModel

/// The pure-Swift SHA-256 against Python `hashlib` digests (`testdata/goldens/sha256.json`): known texts, a byte
/// pattern at every block-boundary length and beyond 3 MB, a million 'a'; fed whole and in odd-sized pieces.
@Suite struct BundleSHA256Tests {
    struct Case {
        let bytes: [UInt8]
        let digest: String
        let label: String
    }

    static func cases() throws -> [Case] {
        let golden = try BundleTestData.object(BundleTestData.root.appendingPathComponent("testdata/goldens/sha256.json"))
        let list = golden["cases"] as? [[String: Any]] ?? []
        return list.compactMap { c in
            guard let digest = c["sha256"] as? String else { return nil }
            if let text = c["text"] as? String { return Case(bytes: Array(text.utf8), digest: digest, label: "text \(text.debugDescription)") }
            if let n = c["pattern_length"] as? Int {
                return Case(bytes: (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }, digest: digest, label: "pattern \(n)")
            }
            if let byte = c["repeat_byte"] as? Int, let count = c["count"] as? Int {
                return Case(bytes: [UInt8](repeating: UInt8(byte), count: count), digest: digest, label: "\(count) × \(byte)")
            }
            return nil
        }
    }

    @Test func goldenCasesAreAllPresent() throws {
        #expect(try Self.cases().count == 24)
    }

    @Test func oneShotDigestsMatchHashlib() throws {
        for c in try Self.cases() {
            #expect(SHA256.hex(of: c.bytes) == c.digest, "\(c.label)")
        }
    }

    @Test func piecewiseUpdatesGiveTheSameDigest() throws {
        let sizes = [1, 3, 63, 64, 65, 1000, 7]
        for c in try Self.cases() where c.bytes.count < 70_000 {
            var hasher = SHA256()
            var offset = 0
            var k = 0
            while offset < c.bytes.count {
                let n = min(sizes[k % sizes.count], c.bytes.count - offset)
                hasher.update(Array(c.bytes[offset..<(offset + n)]))
                offset += n
                k += 1
            }
            #expect(hasher.finalize().hexString == c.digest, "\(c.label)")
        }
    }

    @Test func knownVectorOfTheStandard() {
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
