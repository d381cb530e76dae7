import Foundation
import Testing
@testable import QAnchorModel

/// `BundleFingerprint` equals the fingerprint the Python reference computed for `testdata/models/tiny`, lists the
/// same files with the same hashes, and changes whenever a file the model reads changes.
@Suite struct BundleFingerprintTests {
    let golden: [String: Any]

    init() throws { golden = try BundleTestData.object(BundleTestData.goldens.appendingPathComponent("bundle.json")) }

    @Test func tinyBundleMatchesTheReference() throws {
        let fingerprint = try BundleFingerprint(bundleDirectory: BundleTestData.tinyBundle)
        #expect(fingerprint.value == golden["fingerprint"] as? String)
        #expect(fingerprint.value.hasPrefix("sha256:") && fingerprint.value.count == 71)
        let lines = golden["listing"] as? [String] ?? []
        #expect(fingerprint.listing == lines.map { $0 + "\n" }.joined())
        #expect(fingerprint.entries.count == 17)
        #expect(fingerprint.entries.filter { $0.path.hasPrefix("encoders/shared/") }.count == 3)
    }

    @Test func fileListFollowsTheManifest() throws {
        var manifest = try BundleManifest.load(bundleDirectory: BundleTestData.tinyBundle)
        let files = try BundleFingerprint.files(of: manifest)
        #expect(files.first == "backbone/config.json")
        #expect(files.contains("qanchor.json") && files.contains("heads.safetensors"))
        #expect(files == files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        manifest.modalities[1].encoder = "encoders/shared/"    // app now shares bill's encoder: its dir drops out
        let fewer = try BundleFingerprint.files(of: manifest)
        #expect(fewer.count == files.count - 3)
        #expect(!fewer.contains("encoders/app/model.safetensors"))
    }

    @Test func anyChangedFileChangesTheFingerprint() throws {
        let copy = try BundleTestData.copyOfTinyBundle()
        defer { try? FileManager.default.removeItem(at: copy) }
        let original = try BundleFingerprint(bundleDirectory: copy)
        #expect(original.value == golden["fingerprint"] as? String)

        // A file the model does not read does not count.
        try Data("notes".utf8).write(to: copy.appendingPathComponent("README.md"))
        try Data("x".utf8).write(to: copy.appendingPathComponent("encoders/app/tokenizer_config.json"))
        #expect(try BundleFingerprint(bundleDirectory: copy).value == original.value)

        // One byte of one weight file does.
        let weights = copy.appendingPathComponent("encoders/spm/model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: weights)
        let changed = try BundleFingerprint(bundleDirectory: copy)
        #expect(changed.value != original.value)
        let differing = zip(changed.entries, original.entries).filter { $0.0 != $0.1 }.map { $0.0.path }
        #expect(differing == ["encoders/spm/model.safetensors"])
        #expect(changed.entries.map(\.path) == original.entries.map(\.path))
    }

    @Test func missingFileIsNamed() throws {
        let copy = try BundleTestData.copyOfTinyBundle()
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("encoders/search/tokenizer.json"))
        do {
            _ = try BundleFingerprint(bundleDirectory: copy)
            Issue.record("a missing file must be an error")
        } catch {
            guard case let .unreadable(file, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(file == "encoders/search/tokenizer.json")
        }
    }
}
