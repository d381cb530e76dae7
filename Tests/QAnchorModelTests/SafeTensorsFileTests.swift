import Foundation
import Testing
@testable import QAnchorModel

/// Builds small safetensors files byte by byte, so every validation rule can be broken on purpose.
enum SafeTensorsFixture {
    /// A file with the given JSON header text and data bytes.
    static func bytes(header: String, data: [UInt8]) -> Data {
        var out = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    static func write(_ data: Data, name: String = "model.safetensors") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }
}

@Suite struct SafeTensorsFileTests {
    @Test func readsF32F16AndBF16() throws {
        // a: F32 [2,2]; b: F16 [3] = 1, -2, 0.5; c: BF16 [2] = 1.5, -3
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38]
        let bf16: [UInt8] = [0xC0, 0x3F, 0x40, 0xC0]
        let header = """
        {"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},\
        "c":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]},"__metadata__":{"format":"pt"}}
        """
        let url = try SafeTensorsFixture.write(SafeTensorsFixture.bytes(
            header: header, data: SafeTensorsFixture.floatBytes([1, 2, 3, 4]) + f16 + bf16))
        let file = try SafeTensorsFile(url: url)
        #expect(file.names == ["a", "b", "c"])
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.tensor("a").storage.toArray() == [1, 2, 3, 4])
        #expect(try file.tensor("a").shape == [2, 2])
        #expect(try file.tensor("b").storage.toArray() == [1, -2, 0.5])
        #expect(try file.tensor("c").storage.toArray() == [1.5, -3])
        #expect(throws: SafeTensorsError.missingTensor(file: url.path, tensor: "z")) { try file.tensor("z") }
    }

    @Test func halfPrecisionConversionIsExact() {
        for bits in stride(from: 0, through: 0xFFFF, by: 1) where (bits >> 10) & 0x1F != 0x1F {
            let expected = Float(Float16(bitPattern: UInt16(bits)))
            #expect(Float(halfBits: UInt16(bits)) == expected)
        }
    }

    @Test func rejectsUnsupportedDTypeByName() throws {
        let url = try SafeTensorsFixture.write(SafeTensorsFixture.bytes(
            header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
        let file = try SafeTensorsFile(url: url)
        #expect(throws: SafeTensorsError.unsupportedDType(file: url.path, tensor: "ids", dtype: "I64")) { try file.tensor("ids") }
    }

    /// Each malformed file must throw the right error, naming the tensor where there is one — never crash.
    @Test(arguments: [
        ("shape/bytes mismatch", #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#, 16, "w"),
        ("past the end", #"{"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}"#, 16, "truncated"),
        ("overlap", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 16, "overlap"),
        ("reversed offsets", #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, 16, "w"),
        ("unknown dtype", #"{"w":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}}"#, 16, "w"),
        ("negative dim", #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 16, "w"),
        ("huge dims", #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, 16, "w"),
        ("fractional offset", #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0.5,4]}}"#, 16, "w"),
        ("not an object", #"[1,2,3]"#, 0, "header"),
        ("not JSON", #"{"w": "#, 0, "header"),
        ("entry not an object", #"{"w": 3}"#, 0, "w"),
        ("metadata not strings", #"{"__metadata__":{"a":1}}"#, 0, "header"),
    ] as [(String, String, Int, String)])
    func rejectsMalformedHeaders(label: String, header: String, dataBytes: Int, mentions: String) throws {
        let url = try SafeTensorsFixture.write(SafeTensorsFixture.bytes(header: header, data: [UInt8](repeating: 0, count: dataBytes)))
        do {
            _ = try SafeTensorsFile(url: url)
            Issue.record("\(label): accepted a malformed file")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains(url.path), "\(label): \(error)")
            #expect(error.description.contains(mentions), "\(label): \(error) should mention \(mentions)")
        }
    }

    @Test func rejectsTruncatedFiles() throws {
        let good = SafeTensorsFixture.bytes(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                                            data: SafeTensorsFixture.floatBytes([1, 2, 3, 4]))
        // Every prefix of a valid file is an error, never a crash.
        for cut in [0, 4, 8, 20, good.count - 17, good.count - 1] {
            let url = try SafeTensorsFixture.write(good.prefix(cut))
            #expect(throws: SafeTensorsError.self, "cut at \(cut)") { try SafeTensorsFile(url: url) }
        }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString).safetensors")
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(url: missing) }
    }
}
