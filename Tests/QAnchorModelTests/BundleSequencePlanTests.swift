import Foundation
import Testing
@testable import QAnchorModel

/// `BundleSequencePlan` and the per-modality WordPiece truncation give the token ids the PyTorch reference used:
/// the prefix plan, every suffix, the readout id, the text tower's ids and every event text's ids
/// (`testdata/goldens/tiny/bundle.json`, `text_tower.json`, `event_vectors.json`).
@Suite struct BundleSequencePlanTests {
    let manifest: BundleManifest
    let plan: BundleSequencePlan

    init() throws {
        manifest = try BundleManifest.load(bundleDirectory: BundleTestData.tinyBundle)
        let tokenizer = try BundleTestData.backboneTokenizer()
        try manifest.validate(backboneTokenizer: tokenizer)
        plan = try BundleSequencePlan(manifest: manifest, backboneTokenizer: tokenizer)
    }

    static func render(_ item: BundleSequencePlan.Item) -> Any {
        switch item {
        case let .token(id): return id
        case let .summary(i): return "summary:\(i)"
        case let .slot(m, i): return "event:\(m):\(i)"
        }
    }

    @Test func prefixSuffixesAndReadoutMatchTheReference() throws {
        let golden = try BundleTestData.object(BundleTestData.goldens.appendingPathComponent("bundle.json"))
        let want = try #require(golden["prefix_plan"] as? [Any])
        #expect(plan.prefix.count == want.count)
        #expect(plan.prefix.count == golden["prefix_length"] as? Int)
        for (i, (item, expected)) in zip(plan.prefix, want).enumerated() {
            let got = Self.render(item)
            #expect("\(got)" == "\(expected)", "prefix position \(i)")
        }
        #expect(plan.suffixTokenIDs == golden["suffix_ids"] as? [String: [Int]])
        #expect(plan.readoutTokenID == golden["readout_id"] as? Int)
        #expect(plan.prefix.filter { if case .summary = $0 { true } else { false } }.count == 1 + manifest.modalities.count)
    }

    @Test func textTowerIDsMatchTheReference() throws {
        let cases = try #require(try BundleTestData.json(BundleTestData.goldens.appendingPathComponent("text_tower.json")) as? [[String: Any]])
        #expect(cases.count == 5)
        for c in cases {
            let text = try #require(c["text"] as? String)
            #expect(plan.textTowerTokenIDs(text) == c["ids"] as? [Int], "\(text)")
        }
    }

    @Test func eventTextIDsMatchTheReference() throws {
        let cases = try #require(try BundleTestData.json(BundleTestData.goldens.appendingPathComponent("event_vectors.json")) as? [[String: Any]])
        var tokenizers: [String: WordPieceTokenizer] = [:]
        for dir in manifest.encoderDirectories {
            let url = BundleTestData.tinyBundle.appendingPathComponent(dir).appendingPathComponent("tokenizer.json")
            guard case let .wordPiece(wp) = try Tokenizer(contentsOf: url) else {
                Issue.record("\(dir): not a WordPiece tokenizer")
                continue
            }
            tokenizers[dir] = wp
        }
        #expect(cases.count >= 30)
        for c in cases {
            let name = try #require(c["modality"] as? String)
            let text = try #require(c["text"] as? String)
            let modality = try #require(manifest.modality(named: name))
            let dir = try BundleManifest.normalizedDirectory(try #require(modality.encoder), field: "encoder")
            let ids = tokenizers[dir]?.encode(text, maxLength: modality.maxTextTokens)
            #expect(ids == c["ids"] as? [Int], "\(name): \(text)")
        }
    }

    @Test func unknownTokenInAnUnvalidatedManifestIsAnError() throws {
        var edited = manifest
        edited.modalities[0].endToken = "<|nope|>"
        #expect(throws: BundleError.self) {
            try BundleSequencePlan(manifest: edited, backboneTokenizer: try BundleTestData.backboneTokenizer())
        }
    }
}
