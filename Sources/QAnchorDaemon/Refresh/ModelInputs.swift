import QAnchorModel
import QAnchorStore

/// What the model reads of one user at a given time, selected from the stored state exactly as the refresh uses it:
/// per text modality the at most `K_m` newest events inside the window (oldest first), per tabular modality the
/// snapshot if it is inside the window. Its `digest` names that input, so a refresh can tell that a user's
/// embeddings would come out the same as the ones it last published (same digest, same bundle fingerprint).
///
/// The digest is SHA-256 over a fixed layout: a version tag, the vector encoding of event vectors, then per modality
/// in the store's order its name and either (text) the count and each kept event's time and text hash — the text
/// hash stands for its vector, which is a function of the text, the bundle and the encoding — or (tabular) the
/// snapshot's time and features. Value type.
struct ModelInputs: Sendable {
    var history = UserHistory()
    /// The newest kept event time (the record's `event_time`); nil when nothing is left in the window.
    var newestEventMs: Int64?
    var digest: [UInt8]

    /// Selects from `state` (read with or without vectors; without, `history` has empty vectors).
    init(_ state: UserState, manifest: BundleManifest, windowStartMs: Int64, vectorEncoding: VectorEncoding) {
        var sha = SHA256()
        func put(_ bytes: [UInt8]) { sha.update(bytes) }
        func put(_ value: Int64) { put(withUnsafeBytes(of: value.bigEndian) { Array($0) }) }
        func put(_ text: String) { put(Int64(text.utf8.count)); put(Array(text.utf8)) }
        put("qanchor-model-inputs-v1")
        put(vectorEncoding.rawValue)
        for m in state.modalities {
            put(m.name)
            if let snapshot = m.snapshot, snapshot.timestampMs >= windowStartMs {
                history.tabular[m.name] = snapshot.features
                newestEventMs = max(newestEventMs ?? snapshot.timestampMs, snapshot.timestampMs)
                put(1); put(snapshot.timestampMs)
                put(snapshot.features.flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian) { Array($0) } })
            }
            // The bundle may have changed K_m since the events were stored; the expiry sweep may lag.
            let cap = manifest.modality(named: m.name)?.maxEvents ?? m.events.count
            let kept = m.events.filter { $0.timestampMs >= windowStartMs }.suffix(cap)
            put(Int64(kept.count))
            for event in kept {
                put(event.timestampMs); put(Int64(event.textHash.count)); put(event.textHash)
            }
            if let newest = kept.last?.timestampMs {
                history.eventVectors[m.name] = kept.map(\.vector)
                newestEventMs = max(newestEventMs ?? newest, newest)
            }
        }
        digest = sha.finalize()
    }

    /// True when a refresh with these inputs would publish what `record` already published.
    func isUnchanged(since record: RefreshRecord?, fingerprint: String) -> Bool {
        guard let record, !record.inputDigest.isEmpty else { return false }
        return record.fingerprint == fingerprint && record.inputDigest == digest
    }
}
