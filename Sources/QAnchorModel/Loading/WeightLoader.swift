import Foundation

/// Looks tensors up by name with the shape the architecture expects, and tracks which ones were used so that
/// leftovers can be reported (llama.cpp style: "tensor 'x' has wrong shape; expected [a, b], got [c, d]").
///
/// Names are tried with each of `prefixes` in turn (e.g. `""` and `"model."`), so both a bare `Qwen2Model` and a
/// `Qwen2ForCausalLM` checkpoint load. Tensors matching `ignoredSuffixes` (e.g. `lm_head.weight`, pooler weights)
/// are never reported as unexpected. Threading: used by one loading call.
struct WeightLoader {
    let file: SafeTensorsFile
    let prefixes: [String]
    let ignored: (String) -> Bool
    private(set) var used: Set<String> = []

    init(file: SafeTensorsFile, prefixes: [String], ignored: @escaping (String) -> Bool) {
        self.file = file
        self.prefixes = prefixes
        self.ignored = ignored
    }

    /// Whether a tensor exists under any prefix.
    func contains(_ name: String) -> Bool { prefixes.contains { file.tensors[$0 + name] != nil } }

    /// The tensor `name` (under the first prefix that has it), checked against `shape` and converted to fp32.
    mutating func load(_ name: String, shape: [Int]) throws -> Tensor {
        guard let full = prefixes.map({ $0 + name }).first(where: { file.tensors[$0] != nil }),
              let info = file.tensors[full] else {
            throw ModelLoadError.missingTensor(file: file.path, tensor: (prefixes.first ?? "") + name, expectedShape: shape)
        }
        guard info.shape == shape else {
            throw ModelLoadError.shapeMismatch(file: file.path, tensor: full, expected: shape, found: info.shape)
        }
        let tensor: Tensor
        do { tensor = try file.tensor(full) } catch let error as SafeTensorsError { throw ModelLoadError.weights(error) }
        file.releasePages(of: full)
        used.insert(full)
        return tensor
    }

    /// Throws ``ModelLoadError/unexpectedTensors(file:tensors:)`` if the file holds tensors that were not loaded
    /// and are not ignorable.
    func checkNoneLeft() throws {
        let left = file.names.filter { !used.contains($0) && !ignored($0) }
        if !left.isEmpty { throw ModelLoadError.unexpectedTensors(file: file.path, tensors: left) }
    }
}

/// Tensors that checkpoints carry and no loader uses (docs/bundle.md "Tensors the loaders skip"): they are never
/// reported as unexpected, never converted, and `bundle inspect --verify` skips them too.
public enum SkippedTensors {
    /// BERT: the pooler, `cls.*` pre-training heads, `position_ids` buffers (int64 in sentence-transformers
    /// checkpoints).
    static func bert(_ name: String) -> Bool {
        name.contains("pooler.") || name.hasSuffix("position_ids") || name.hasPrefix("cls.")
    }

    /// Qwen2: the LM head (`lm_head.weight`; the engine never applies it) and `rotary_emb.inv_freq` buffers.
    static func qwen2(_ name: String) -> Bool {
        name == "lm_head.weight" || name.hasSuffix("rotary_emb.inv_freq")
    }

    /// Whether some loader skips a tensor of this name.
    public static func contains(_ name: String) -> Bool { bert(name) || qwen2(name) }
}

extension SafeTensorsFile {
    /// Opens a weights file, wrapping its errors as ``ModelLoadError/weights(_:)``.
    static func openWeights(at url: URL) throws -> SafeTensorsFile {
        do { return try SafeTensorsFile(url: url) } catch let error as SafeTensorsError { throw ModelLoadError.weights(error) }
    }
}
