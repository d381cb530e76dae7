import Dispatch
import Foundation
import Logging

/// A Hugging Face model directory (`config.json` + `model.safetensors`), as both encoders and decoders load it.
enum ModelDirectory {
    /// The config file's URL and the opened weights.
    static func open(_ directory: URL) throws -> (config: URL, weights: SafeTensorsFile) {
        (directory.appendingPathComponent("config.json"),
         try SafeTensorsFile.openWeights(at: directory.appendingPathComponent("model.safetensors")))
    }

    /// Logs a finished load with its size and duration (`start`: `DispatchTime.now().uptimeNanoseconds`).
    static func logLoaded(_ what: String, directory: URL, layers: Int, hidden: Int, weightBytes: Int, since start: UInt64,
                          logger: Logger) {
        logger.info("loaded \(what)", metadata: [
            "directory": "\(directory.path)", "layers": "\(layers)", "hidden": "\(hidden)",
            "weight_bytes": "\(weightBytes)", "seconds": "\(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)",
        ])
    }
}
