import Foundation
import Testing
@testable import QAnchorModel

/// Bad bundles fail at load with an error naming the file, the tensor and what was expected.
@Suite("Q-Anchor bundle errors")
struct QAnchorBundleErrorTests {
    /// A writable copy of the tiny bundle whose manifest `edit` may change.
    static func copy(editing edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        let source = QAnchorEmbedderTests.bundle
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bundle-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: target)
        let manifestURL = target.appendingPathComponent("qanchor.json")
        var manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        edit(&manifest)
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        return target
    }

    static func loadError(_ bundle: URL) -> String? {
        defer { try? FileManager.default.removeItem(at: bundle) }
        do { _ = try QAnchorEmbedder(bundle: bundle); return nil } catch { return error.description }
    }

    static func editModality(_ name: String, _ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
        { manifest in
            var modalities = manifest["modalities"] as! [[String: Any]]
            let i = modalities.firstIndex { $0["name"] as? String == name }!
            modalities[i][key] = value
            manifest["modalities"] = modalities
        }
    }

    @Test func featureCountMismatchNamesTheTensorAndShapes() throws {
        let message = Self.loadError(try Self.copy(editing: Self.editModality("tabular", "features", 8)))
        #expect(message?.contains("heads.safetensors") == true)
        #expect(message?.contains("tabular.tabular.slot.weight") == true)
        #expect(message?.contains("[48, 8]") == true || message?.contains("expected shape") == true)
    }

    @Test func softPromptOfTheWrongWidthIsNamed() throws {
        let message = Self.loadError(try Self.copy { manifest in
            var scenarios = manifest["scenarios"] as! [[String: Any]]
            scenarios[0]["soft_prompt"] = scenarios[0]["prototypes"]
            manifest["scenarios"] = scenarios
        })
        #expect(message?.contains("soft prompt") == true)
        #expect(message?.contains("scenarios.credit_risk.prototypes") == true)
    }

    @Test func tensorsTheManifestDoesNotNameAreUnexpected() throws {
        let message = Self.loadError(try Self.copy { manifest in
            var scenarios = manifest["scenarios"] as! [[String: Any]]
            scenarios[0]["soft_prompt"] = nil
            manifest["scenarios"] = scenarios
        })
        #expect(message?.contains("unexpected") == true)
        #expect(message?.contains("scenarios.credit_risk.soft_prompt") == true)
    }

    @Test func unknownSpecialTokenIsNamed() throws {
        let message = Self.loadError(try Self.copy(editing: Self.editModality("bill", "start_token", "<|no_such|>")))
        #expect(message?.contains("<|no_such|>") == true)
    }

    @Test func truncatedWeightsFailWithTheFileName() throws {
        let bundle = try Self.copy()
        let heads = bundle.appendingPathComponent("heads.safetensors")
        let data = try Data(contentsOf: heads)
        try data.prefix(data.count / 2).write(to: heads)
        let message = Self.loadError(bundle)
        #expect(message?.contains("heads.safetensors") == true)
    }

    @Test func missingEncoderDirectoryIsNamed() throws {
        let message = Self.loadError(try Self.copy(editing: Self.editModality("app", "encoder", "encoders/nowhere")))
        #expect(message?.contains("encoders/nowhere") == true)
    }
}
