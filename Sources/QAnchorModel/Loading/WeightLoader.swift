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

extension SafeTensorsFile {
    /// Opens a weights file, wrapping its errors as ``ModelLoadError/weights(_:)``.
    static func openWeights(at url: URL) throws -> SafeTensorsFile {
        do { return try SafeTensorsFile(url: url) } catch let error as SafeTensorsError { throw ModelLoadError.weights(error) }
    }
}
