import Foundation

/// A Hugging Face model directory (`config.json` + `model.safetensors`), as both encoders and decoders load it.
enum ModelDirectory {
    /// The config file's URL and the opened weights.
    static func open(_ directory: URL) throws -> (config: URL, weights: SafeTensorsFile) {
        (directory.appendingPathComponent("config.json"),
         try SafeTensorsFile.openWeights(at: directory.appendingPathComponent("model.safetensors")))
    }
}
