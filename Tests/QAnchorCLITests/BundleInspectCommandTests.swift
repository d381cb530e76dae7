import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor bundle inspect --verify` on checkpoints as they are shipped.
@Suite("qanchor bundle inspect")
struct BundleInspectCommandTests {
    /// A sentence-transformers BERT carries an int64 `embeddings.position_ids` buffer, which the loader skips:
    /// `--verify` skips it too instead of refusing the bundle (docs/bundle.md "Tensors the loaders skip").
    @Test func verifySkipsTheTensorsTheLoadersSkip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bundle-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: TestBroker.repositoryRoot.appendingPathComponent("testdata/models/tiny"), to: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("encoders/shared/model.safetensors")
        let data = try Data(contentsOf: weights)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        var header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let body = data.subdata(in: (8 + headerLength)..<data.count)
        let positions = 16
        header["embeddings.position_ids"] = ["dtype": "I64", "shape": [1, positions], "data_offsets": [body.count, body.count + 8 * positions]]
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var rewritten = Data()
        var length = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { rewritten.append(contentsOf: $0) }
        rewritten.append(headerBytes)
        rewritten.append(body)
        for i in 0..<positions { var v = Int64(i).littleEndian; withUnsafeBytes(of: &v) { rewritten.append(contentsOf: $0) } }
        try rewritten.write(to: weights)

        let (status, output, errors) = try QAnchorExecutable.run(["bundle", "inspect", directory.path, "--verify"])
        #expect(status == 0, "\(errors)")
        #expect(output.contains("\"verified\""))
        // The engine loads it too (its loader skips the buffer).
        let embed = try QAnchorExecutable.run(["embed-text", "--bundle", directory.path, "hello"])
        #expect(embed.status == 0, "\(embed.errors)")
    }

    /// `embed-text` names the text it cannot embed, and its records carry the bundle's version.
    @Test func embedTextNamesAnEmptyTextAndPrintsTheModelVersion() throws {
        let bundle = TestBroker.repositoryRoot.appendingPathComponent("testdata/models/tiny").path
        let bad = try QAnchorExecutable.run(["embed-text", "--bundle", bundle, "first", "", "third"])
        #expect(bad.status != 0)
        #expect(bad.errors.contains("text #2 of 3 is empty"), "\(bad.errors)")
        #expect(bad.errors.contains("Usage: qanchor embed-text"), "the subcommand's usage: \(bad.errors)")
        #expect(bad.output.isEmpty)
        let good = try QAnchorExecutable.run(["embed-text", "--bundle", bundle, "first"])
        #expect(good.status == 0 && good.output.contains("\"version\":\"1.0.0\""), "\(good.output)")
        let skew = try QAnchorExecutable.run(["embed", "--bundle", bundle, "--events", "/dev/null", "--skew-seconds=-5"])
        #expect(skew.status != 0 && skew.errors.contains("--skew-seconds must be ≥ 0"), "\(skew.errors)")
    }
}
