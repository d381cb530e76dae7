import ArgumentParser
import Foundation
import QAnchorModel

/// `qanchor bundle …`: look at model bundles.
struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle", abstract: "Inspect model bundles.", subcommands: [BundleInspectCommand.self])
}

/// `qanchor bundle inspect DIR [--verify]`: manifest summary, tensor count and bytes per file, fingerprint.
/// `--verify` loads the whole model (every tensor checked by name and shape against the manifest and configs) and
/// decodes every tensor, failing on non-finite values.
struct BundleInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise a bundle (JSON).")

    @Argument(help: "The bundle directory.")
    var directory: String

    @Flag(help: "Load the model and decode every tensor.")
    var verify = false

    func run() async throws {
        let url = URL(fileURLWithPath: directory)
        let manifest: BundleManifest
        do { manifest = try BundleManifest.load(bundleDirectory: url) } catch { throw CLIError("\(error)") }
        let fingerprint: BundleFingerprint
        do { fingerprint = try BundleFingerprint(bundleDirectory: url, manifest: manifest) } catch { throw CLIError("\(error)") }
        var files: [[String: Any]] = []
        var totalTensors = 0, totalBytes = 0
        for entry in fingerprint.entries where entry.path.hasSuffix(".safetensors") {
            let file: SafeTensorsFile
            do { file = try SafeTensorsFile(url: url.appendingPathComponent(entry.path)) } catch { throw CLIError("\(error)") }
            let bytes = file.tensors.values.reduce(0) { $0 + $1.byteRange.count }
            var nonFinite: [String] = []
            if verify {
                for name in file.names where !SkippedTensors.contains(name) {
                    let tensor: Tensor
                    do { tensor = try file.tensor(name) } catch { throw CLIError("\(error)") }
                    if UnsafeBufferPointer(start: tensor.data, count: tensor.count).contains(where: { !$0.isFinite }) {
                        nonFinite.append(name)
                    }
                }
                if !nonFinite.isEmpty {
                    throw CLIError("\(entry.path): non-finite values in \(nonFinite.prefix(5).joined(separator: ", "))")
                }
            }
            files.append(["path": entry.path, "tensors": file.tensors.count, "bytes": bytes])
            totalTensors += file.tensors.count
            totalBytes += bytes
        }
        if verify {
            do { _ = try QAnchorEmbedder(bundle: url) } catch { throw CLIError("\(error)") }
        }
        let summary: [String: Any] = [
            "name": manifest.name, "version": manifest.version, "format_version": manifest.formatVersion,
            "fingerprint": fingerprint.value, "window_days": manifest.windowDays,
            "modalities": manifest.modalities.map { m -> [String: Any] in
                var d: [String: Any] = ["name": m.name, "kind": m.kind.rawValue, "slots": m.slotCount]
                if let e = m.encoder { d["encoder"] = e }
                if let f = m.features { d["features"] = f }
                return d
            },
            "scenarios": manifest.scenarios.map { s -> [String: Any] in
                ["id": s.id, "query": s.query, "soft_prompt": s.softPrompt != nil, "prototypes": s.prototypes != nil]
            },
            "weight_files": files, "tensors": totalTensors, "tensor_bytes": totalBytes, "verified": verify,
        ]
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        Standard.output(String(decoding: data, as: UTF8.self))
    }
}
