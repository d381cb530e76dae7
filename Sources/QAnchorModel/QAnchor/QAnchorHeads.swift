import Foundation

/// Everything in `heads.safetensors`: per-modality event adapters, the shared modality adapter, the user adapter,
/// the tabular linears, the projection head, and the scenarios' soft prompts and prototypes.
///
/// Loading looks every tensor up by name with the shape the manifest implies and reports the first missing,
/// misshapen or unexpected one by name (see docs/bundle.md for the names). Immutable after loading.
struct QAnchorHeads: Sendable {
    static let fileName = "heads.safetensors"

    let eventAdapters: [String: LLMAdapter]
    let modalAdapter: LLMAdapter
    let userAdapter: LLMAdapter
    /// Per tabular modality: `Linear(F→D)` for its slots and `Linear(F→E)` for its mean.
    let tabularSlot: [String: DenseLayer]
    let tabularMean: [String: DenseLayer]
    let projection: ProjectionHead
    /// Per scenario id: `n × D` rows (possibly none).
    let softPrompts: [String: [Float]]
    /// Per scenario id with prototypes: `K × output`.
    let prototypes: [String: Tensor]

    /// - Parameters: e: encoder width (h); d: backbone width.
    init(bundle: URL, manifest: BundleManifest, encoderWidth e: Int, modelWidth d: Int) throws(QAnchorModelError) {
        let url = bundle.appendingPathComponent(Self.fileName)
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch {
            throw .bundle(file: url.path, problem: "\(error)")
        }
        var used = Set<String>()
        func load(_ name: String, _ shape: [Int]) throws(QAnchorModelError) -> Tensor {
            guard let info = file.tensors[name] else {
                throw .tensor(file: url.path, tensor: name, problem: "missing (expected shape \(shape))")
            }
            guard info.shape == shape else {
                throw .tensor(file: url.path, tensor: name, problem: "expected shape \(shape), found \(info.shape)")
            }
            used.insert(name)
            do { return try file.tensor(name) } catch { throw .tensor(file: url.path, tensor: name, problem: "\(error)") }
        }
        let eps = Float(manifest.adapterLayerNormEps)
        func adapter(_ prefix: String) throws(QAnchorModelError) -> LLMAdapter {
            LLMAdapter(normWeight: try load("\(prefix).norm.weight", [e]), normBias: try load("\(prefix).norm.bias", [e]),
                       fc1Weight: try load("\(prefix).fc1.weight", [e, e]), fc1Bias: try load("\(prefix).fc1.bias", [e]),
                       fc2Weight: try load("\(prefix).fc2.weight", [d, e]), fc2Bias: try load("\(prefix).fc2.bias", [d]),
                       eps: eps)
        }
        var events: [String: LLMAdapter] = [:], slot: [String: DenseLayer] = [:], mean: [String: DenseLayer] = [:]
        for m in manifest.modalities {
            switch m.kind {
            case .text:
                events[m.name] = try adapter("adapters.event.\(m.name)")
            case .tabular:
                let f = m.features ?? 0
                slot[m.name] = DenseLayer(weight: try load("tabular.\(m.name).slot.weight", [d, f]),
                                          bias: try load("tabular.\(m.name).slot.bias", [d]))
                mean[m.name] = DenseLayer(weight: try load("tabular.\(m.name).mean.weight", [e, f]),
                                          bias: try load("tabular.\(m.name).mean.bias", [e]))
            }
        }
        eventAdapters = events
        tabularSlot = slot
        tabularMean = mean
        modalAdapter = try adapter("adapters.modal")
        userAdapter = try adapter("adapters.user")
        let p = manifest.projection
        projection = ProjectionHead(
            fc1: DenseLayer(weight: try load("projection.fc1.weight", [p.hidden, d]), bias: try load("projection.fc1.bias", [p.hidden])),
            fc2: DenseLayer(weight: try load("projection.fc2.weight", [p.output, p.hidden]), bias: try load("projection.fc2.bias", [p.output])),
            normalize: manifest.normalize)
        var soft: [String: [Float]] = [:], protos: [String: Tensor] = [:]
        for s in manifest.scenarios {
            if let name = s.softPrompt {
                guard let info = file.tensors[name] else {
                    throw .tensor(file: url.path, tensor: name, problem: "missing (soft prompt of scenario '\(s.id)', n × \(d))")
                }
                guard info.shape.count == 2, info.shape[1] == d else {
                    throw .tensor(file: url.path, tensor: name,
                                  problem: "soft prompt of scenario '\(s.id)' must be n × \(d), found \(info.shape)")
                }
                let t = try load(name, info.shape)
                soft[s.id] = Array(UnsafeBufferPointer(start: t.data, count: t.count))
            } else {
                soft[s.id] = []
            }
            if let name = s.prototypes {
                guard let labels = s.labels, let tau = s.tau, tau > 0 else {
                    throw .bundle(file: bundle.appendingPathComponent(BundleManifest.fileName).path,
                                  problem: "scenario '\(s.id)' has prototypes but no labels or no positive tau")
                }
                protos[s.id] = try load(name, [labels.count, p.output])
            }
        }
        softPrompts = soft
        prototypes = protos
        let unexpected = Set(file.tensors.keys).subtracting(used).sorted()
        if let first = unexpected.first {
            throw .tensor(file: url.path, tensor: first,
                          problem: "unexpected (\(unexpected.count) tensor(s) not named by the manifest: \(unexpected.prefix(5).joined(separator: ", ")))")
        }
    }
}
