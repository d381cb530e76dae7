import Foundation
import Testing
@testable import QAnchorModel

/// A copy of a golden model directory with its config.json edited.
private func modelDirectory(from model: String, edit: (inout [String: Any]) -> Void) throws -> URL {
    let source = EngineGolden.url(model)
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as? [String: Any])
    edit(&config)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-model-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
    try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"),
                                     to: dir.appendingPathComponent("model.safetensors"))
    return dir
}

@Suite struct ModelLoadingTests {
    @Test func wrongShapeNamesTensorExpectedAndFound() throws {
        let dir = try modelDirectory(from: "qwen2-tiny") { $0["intermediate_size"] = 201 }
        let file = dir.appendingPathComponent("model.safetensors").path
        #expect(throws: ModelLoadError.shapeMismatch(file: file, tensor: "model.layers.0.mlp.gate_proj.weight",
                                                     expected: [201, 72], found: [200, 72])) {
            try Qwen2Decoder(directory: dir)
        }
    }

    @Test func missingTensorIsNamed() throws {
        let dir = try modelDirectory(from: "qwen2-tiny") { $0["num_hidden_layers"] = 4 }
        let file = dir.appendingPathComponent("model.safetensors").path
        #expect(throws: ModelLoadError.missingTensor(file: file, tensor: "model.layers.3.self_attn.q_proj.weight",
                                                     expectedShape: [72, 72])) {
            try Qwen2Decoder(directory: dir)
        }
    }

    @Test func unexpectedTensorsAreListed() throws {
        let dir = try modelDirectory(from: "bert-tiny") { $0["num_hidden_layers"] = 2 }
        do {
            _ = try BertEncoder(directory: dir)
            Issue.record("loaded a file with a whole extra layer")
        } catch let ModelLoadError.unexpectedTensors(_, tensors) {
            #expect(tensors.count == 16)
            #expect(tensors.allSatisfy { $0.hasPrefix("encoder.layer.2.") })
        }
    }

    @Test func badConfigKeysAreNamed() throws {
        let gelu = try modelDirectory(from: "qwen2-tiny") { $0["hidden_act"] = "gelu" }
        #expect(throws: ModelLoadError.self) { try Qwen2Decoder(directory: gelu) }
        do { _ = try Qwen2Decoder(directory: gelu) } catch { #expect("\(error)".contains("hidden_act")) }

        let noVocabulary = try modelDirectory(from: "bert-tiny") { $0.removeValue(forKey: "vocab_size") }
        do { _ = try BertEncoder(directory: noVocabulary); Issue.record("accepted a config without vocab_size") } catch {
            #expect("\(error)".contains("vocab_size"))
        }
        let heads = try modelDirectory(from: "qwen2-tiny") { $0["num_key_value_heads"] = 4 }
        do { _ = try Qwen2Decoder(directory: heads); Issue.record("accepted 6 heads over 4 KV heads") } catch {
            #expect("\(error)".contains("num_key_value_heads"))
        }
        let scaled = try modelDirectory(from: "qwen2-tiny") { $0["rope_scaling"] = ["type": "yarn", "factor": 4.0] }
        #expect(throws: ModelLoadError.self) { try Qwen2Decoder(directory: scaled) }
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-none-\(UUID().uuidString)")
        #expect(throws: ModelLoadError.self) { try BertEncoder(directory: missing) }
    }

    @Test func readsRopeThetaFromEitherPlace() throws {
        let nested = try Qwen2Configuration(contentsOf: EngineGolden.url("qwen2-tiny").appendingPathComponent("config.json"))
        #expect(nested.ropeTheta == 10_000)
        let flat = try modelDirectory(from: "qwen2-tiny") { c in
            c.removeValue(forKey: "rope_parameters")
            c["rope_theta"] = 1_000_000.0
        }
        #expect(try Qwen2Configuration(contentsOf: flat.appendingPathComponent("config.json")).ropeTheta == 1_000_000)
    }
}
