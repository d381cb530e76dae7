/// Turns a `UserHistory` into hierarchical user tokens exactly as the authors' `modeling.py` computes them:
///
///     event tokens   z_evt[m, t] = adapter_m(h[m, t])            (padding slots: adapter_m(0), kept visible)
///     modality mean  h̄[m] = Σ_t mask·h[m, t] / max(Σ_t mask, 1e-9)   (0 for an empty modality; raw 768-d h)
///     tabular        slots = Linear(F→D)(x) repeated; mean = Linear(F→E)(x)   (x = 0 without a snapshot)
///     modality token z_mdl[m] = modal_adapter(h̄[m])
///     user token     z_usr = user_adapter(mean over all M modalities of h̄[m])
///
/// Immutable; `encode` may run on any thread.
struct UserEncoder: Sendable {
    let manifest: BundleManifest
    let heads: QAnchorHeads
    let encoderWidth: Int
    let modelWidth: Int

    func encode(_ history: UserHistory) throws(QAnchorModelError) -> UserTokens {
        let e = encoderWidth
        var means: [Float] = []
        means.reserveCapacity(manifest.modalities.count * e)
        var blocks: [String: [Float]] = [:], valid: [String: Int] = [:]
        for m in manifest.modalities {
            switch m.kind {
            case .text:
                let k = m.maxEvents ?? 0
                let vectors = history.eventVectors[m.name] ?? []
                guard vectors.count <= k else {
                    throw .input("modality '\(m.name)' has \(vectors.count) events; at most \(k) (K_m) fit")
                }
                var slots = [Float](repeating: 0, count: k * e)
                var sum = [Float](repeating: 0, count: e)
                for (t, h) in vectors.enumerated() {
                    guard h.count == e else {
                        throw .input("modality '\(m.name)' event \(t) has a \(h.count)-d vector; the encoder gives \(e)")
                    }
                    for i in 0..<e { slots[t * e + i] = h[i]; sum[i] += h[i] }
                }
                blocks[m.name] = heads.eventAdapters[m.name]!(slots, rows: k)
                let count = Float(max(vectors.count, 0))
                let divisor = max(count, 1e-9)
                means += sum.map { $0 / divisor }
                valid[m.name] = vectors.count
            case .tabular:
                let f = m.features ?? 0, slots = m.slots ?? 0
                let x = history.tabular[m.name] ?? [Float](repeating: 0, count: f)
                guard x.count == f else {
                    throw .input("modality '\(m.name)' has \(x.count) features; the model expects \(f)")
                }
                let slot = heads.tabularSlot[m.name]!(x, rows: 1)
                var block: [Float] = []
                block.reserveCapacity(slots * modelWidth)
                for _ in 0..<slots { block += slot }
                blocks[m.name] = block
                means += heads.tabularMean[m.name]!(x, rows: 1)
                valid[m.name] = slots
            }
        }
        let count = manifest.modalities.count
        var overall = [Float](repeating: 0, count: e)
        for m in 0..<count { for i in 0..<e { overall[i] += means[m * e + i] } }
        for i in 0..<e { overall[i] /= Float(count) }
        let modalityTokens = heads.modalAdapter(means, rows: count)
        let userToken = heads.userAdapter(overall, rows: 1)
        return UserTokens(summary: userToken + modalityTokens, blocks: blocks, valid: valid)
    }
}
