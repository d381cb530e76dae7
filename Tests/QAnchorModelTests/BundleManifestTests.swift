import Foundation
import Testing
@testable import QAnchorModel

/// `BundleManifest`: decoding, the version check and every validation rule, on the tiny bundle's manifest and on
/// edited copies of it.
@Suite struct BundleManifestTests {
    let tokenizer: Tokenizer

    init() throws { tokenizer = try BundleTestData.backboneTokenizer() }

    /// Decodes the edited manifest and validates it; returns the error, or nil when it is accepted.
    func error(_ edit: (inout [String: Any]) -> Void) throws -> BundleError? {
        var object = try BundleTestData.manifestObject()
        edit(&object)
        let data = try JSONSerialization.data(withJSONObject: object)
        do {
            let manifest = try BundleManifest(data: data, file: "qanchor.json")
            try manifest.validate(backboneTokenizer: tokenizer)
            return nil
        } catch {
            return error
        }
    }

    /// Edits one field of `modalities[index]`.
    func modalityError(_ index: Int, _ key: String, _ value: Any?) throws -> BundleError? {
        try error { object in
            var mods = object["modalities"] as! [[String: Any]]
            mods[index][key] = value
            object["modalities"] = mods
        }
    }

    func scenarioError(_ index: Int, _ key: String, _ value: Any?) throws -> BundleError? {
        try error { object in
            var list = object["scenarios"] as! [[String: Any]]
            list[index][key] = value
            object["scenarios"] = list
        }
    }

    func layoutError(_ edit: @escaping (inout [[String: Any]]) -> Void) throws -> BundleError? {
        try error { object in
            var layout = object["layout"] as! [[String: Any]]
            edit(&layout)
            object["layout"] = layout
        }
    }

    @Test func tinyManifestLoadsAndValidates() throws {
        let manifest = try BundleManifest.load(bundleDirectory: BundleTestData.tinyBundle)
        try manifest.validate(backboneTokenizer: tokenizer)
        #expect(manifest.formatVersion == 1)
        #expect(manifest.modalities.map(\.name) == ["bill", "app", "mini", "search", "spm", "tabular"])
        #expect(manifest.modality(named: "bill")?.slotCount == 5)
        #expect(manifest.modality(named: "tabular")?.features == 7)
        #expect(manifest.modality(named: "tabular")?.slotCount == 3)
        #expect(manifest.encoderDirectories == ["encoders/shared", "encoders/app", "encoders/search", "encoders/spm"])
        #expect(manifest.scenarios.map(\.id) == ["credit_risk", "engagement", "generic"])
        #expect(manifest.scenario(id: "credit_risk")?.labels == ["low", "medium", "high"])
        #expect(manifest.scenario(id: "generic")?.query == "")
        #expect(manifest.layout.filter { $0 == .summary }.count == 1)
        #expect(manifest.projection == BundleProjection(hidden: 60, output: 128))
        #expect(manifest.readoutToken == "<|user_emb|>")
        #expect(manifest.paddingVisible)
    }

    @Test func encodingRoundTrips() throws {
        let manifest = try BundleManifest.load(bundleDirectory: BundleTestData.tinyBundle)
        let again = try BundleManifest(data: try JSONEncoder().encode(manifest), file: "round-trip")
        #expect(again == manifest)
    }

    @Test func newerFormatVersionIsRefusedBeforeTheShape() throws {
        let e = try error { object in
            object["format_version"] = 2
            object["modalities"] = "a v2 shape"
        }
        #expect(e == .unsupportedFormatVersion(file: "qanchor.json", found: 2, supported: 1))
        #expect(e?.description == "qanchor.json: 'format_version': expected 1, found 2")
    }

    @Test func missingAndMistypedFieldsNameTheirPath() throws {
        #expect(try error { $0["window_days"] = nil }?.field == "window_days")
        #expect(try modalityError(2, "max_events", "four")?.field == "modalities[2].max_events")
        #expect(try modalityError(0, "kind", "video")?.field == "modalities[0].kind")
        #expect(try modalityError(1, "start_token", nil)?.field == "modalities[1].start_token")
        #expect(try layoutError { $0[0] = ["kind": "picture"] }?.field == "layout[0].kind")
        let notJSON = Data("{\"format_version\": 1,".utf8)
        #expect(throws: BundleError.self) { try BundleManifest(data: notJSON, file: "x.json") }
        #expect(throws: BundleError.self) { try BundleManifest.load(bundleDirectory: URL(fileURLWithPath: "/nonexistent/bundle")) }
    }

    @Test func unknownSpecialTokensAreNamed() throws {
        let e = try modalityError(3, "start_token", "<|search_start|>")
        #expect(e?.field == "modalities[3].start_token")
        #expect(e?.description.contains("'<|search_start|>'") == true)
        #expect(try modalityError(5, "pad_token", "<|tab|>")?.field == "modalities[5].pad_token")
        #expect(try error { $0["readout_token"] = "<|user|>" }?.field == "readout_token")
        #expect(try layoutError { $0[0] = ["kind": "special", "token": "<|im_begin|>"] }?.field == "layout[0].token")
        #expect(try layoutError { $0[0] = ["kind": "special", "token": "<|user_emb|>"] }?.field == "layout[0].token")
    }

    @Test func sizesMustBePositive() throws {
        #expect(try modalityError(0, "max_events", 0)?.field == "modalities[0].max_events")
        #expect(try modalityError(1, "max_events", -3)?.field == "modalities[1].max_events")
        #expect(try modalityError(0, "max_events", nil)?.field == "modalities[0].max_events")
        #expect(try modalityError(2, "max_text_tokens", 1)?.field == "modalities[2].max_text_tokens")
        #expect(try modalityError(5, "features", 0)?.field == "modalities[5].features")
        #expect(try modalityError(5, "slots", -1)?.field == "modalities[5].slots")
        #expect(try modalityError(5, "slots", nil)?.field == "modalities[5].slots")
        #expect(try error { $0["window_days"] = 0 }?.field == "window_days")
        #expect(try error { $0["projection"] = ["hidden": 0, "output": 128] }?.field == "projection.hidden")
        #expect(try error { $0["text_tower"] = ["template": "{text}", "max_tokens": 0] }?.field == "text_tower.max_tokens")
        #expect(try error { $0["adapter_layer_norm_eps"] = 0 }?.field == "adapter_layer_norm_eps")
    }

    @Test func namesAndPathsAreChecked() throws {
        #expect(try modalityError(2, "name", "bill")?.field == "modalities[2].name")
        #expect(try modalityError(2, "name", "Mini")?.field == "modalities[2].name")
        #expect(try modalityError(0, "encoder", "../elsewhere")?.field == "modalities[0].encoder")
        #expect(try modalityError(0, "encoder", "/abs/encoder")?.field == "modalities[0].encoder")
        #expect(try modalityError(0, "encoder", "encoders//shared")?.field == "modalities[0].encoder")
        #expect(try modalityError(0, "encoder", "encoders/shared/")?.field == nil)
        #expect(try error { $0["backbone"] = "./backbone" }?.field == "backbone")
        #expect(try modalityError(0, "kind", "tabular")?.field == "modalities[0].features")
        let twoTabular = try error { object in
            var mods = object["modalities"] as! [[String: Any]]
            var second = mods[5]
            second["name"] = "tabular2"
            mods.append(second)
            object["modalities"] = mods
            var layout = object["layout"] as! [[String: Any]]
            layout.append(["kind": "modality", "modality": "tabular2"])
            object["layout"] = layout
        }
        #expect(twoTabular?.field == "modalities")
    }

    @Test func layoutMustHoldEveryBlockAndOneSummary() throws {
        let noSearch = try layoutError { $0.removeAll { ($0["modality"] as? String) == "search" } }
        #expect(noSearch?.field == "layout")
        #expect(noSearch?.description.contains("'search'") == true)
        #expect(try layoutError { $0.removeAll { ($0["kind"] as? String) == "summary" } }?.field == "layout")
        #expect(try layoutError { $0.append(["kind": "summary"]) }?.field == "layout")
        #expect(try layoutError { $0.append(["kind": "modality", "modality": "bill"]) }?.field == "layout")
        #expect(try layoutError { $0.append(["kind": "modality", "modality": "video"]) }?.field == "layout[11].modality")
        #expect(try layoutError { $0.append(["kind": "text", "text": "end <|user_emb|>"]) }?.field == "layout[11].text")
    }

    @Test func templatesNeedExactlyOnePlaceholder() throws {
        #expect(try error { $0["suffix_template"] = "Query:" }?.field == "suffix_template")
        #expect(try error { $0["suffix_template"] = "{query} and {query}" }?.field == "suffix_template")
        #expect(try error { $0["suffix_template"] = "Query: {query}<|user_emb|>" }?.field == "suffix_template")
        #expect(try error { $0["suffix_template"] = "{query}" } == nil)
        #expect(try error { $0["text_tower"] = ["template": "text", "max_tokens": 4] }?.field == "text_tower.template")
    }

    @Test func scenariosAreChecked() throws {
        #expect(try scenarioError(1, "id", "credit_risk")?.field == "scenarios[1].id")
        #expect(try scenarioError(1, "id", "has space")?.field == "scenarios[1].id")
        #expect(try scenarioError(1, "id", "")?.field == "scenarios[1].id")
        #expect(try scenarioError(1, "labels", ["a", "b"])?.field == "scenarios[1]")
        #expect(try scenarioError(2, "tau", 0.5)?.field == "scenarios[2]")
        #expect(try scenarioError(0, "tau", 0)?.field == "scenarios[0].tau")
        #expect(try scenarioError(0, "tau", nil)?.field == "scenarios[0].tau")
        #expect(try scenarioError(0, "labels", ["a", "a", "b"])?.field == "scenarios[0].labels")
        #expect(try scenarioError(0, "labels", [String]())?.field == "scenarios[0].labels")
        #expect(try scenarioError(0, "soft_prompt", "")?.field == "scenarios[0].soft_prompt")
        #expect(try error { $0["scenarios"] = [[String: Any]]() }?.field == "scenarios")
    }

    /// Applies a golden edit (`set`, `delete` or `append` at a path of keys and indices) to a JSON value.
    static func apply(_ edit: [String: Any], path: ArraySlice<Any>, to value: Any) -> Any {
        guard let key = path.first else { return value }
        let last = path.count == 1
        if var object = value as? [String: Any], let key = key as? String {
            if last, let v = edit["set"] { object[key] = v }
            else if last, edit["delete"] != nil { object[key] = nil }
            else if last, let v = edit["append"], var list = object[key] as? [Any] { list.append(v); object[key] = list }
            else if let child = object[key] { object[key] = apply(edit, path: path.dropFirst(), to: child) }
            return object
        }
        if var list = value as? [Any], let index = key as? Int, list.indices.contains(index) {
            if last, let v = edit["set"] { list[index] = v }
            else if last, edit["delete"] != nil { list.remove(at: index) }
            else { list[index] = apply(edit, path: path.dropFirst(), to: list[index]) }
            return list
        }
        return value
    }

    /// The same edits the Python validator refused (`testdata/goldens/tiny/bad-manifests.json`) are refused here,
    /// naming the same field.
    @Test func agreesWithTheReferenceOnEveryBadManifest() throws {
        let cases = try #require(try BundleTestData.json(BundleTestData.goldens.appendingPathComponent("bad-manifests.json")) as? [[String: Any]])
        #expect(cases.count >= 30)
        for c in cases {
            let label = c["label"] as? String ?? "?"
            let edit = try #require(c["edit"] as? [String: Any])
            let path = try #require(edit["path"] as? [Any])
            let found = try error { object in
                object = Self.apply(edit, path: path[...], to: object) as? [String: Any] ?? object
            }
            #expect(found?.field == c["field"] as? String, "\(label): \(found.map { "\($0)" } ?? "accepted")")
        }
    }

    @Test func directoriesAreNormalised() throws {
        #expect(try BundleManifest.normalizedDirectory("encoders/shared/", field: "f") == "encoders/shared")
        #expect(try BundleManifest.normalizedDirectory("backbone", field: "f") == "backbone")
        for bad in ["", "/", "..", "a/../b", "a/./b", "a\\b", "/abs"] {
            #expect(throws: BundleError.self, "\(bad)") { try BundleManifest.normalizedDirectory(bad, field: "f") }
        }
    }
}
