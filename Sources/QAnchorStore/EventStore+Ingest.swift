extension EventStore {
    /// Applies `batch` in one write transaction and returns after it committed: events (deduplicated by
    /// (modality, event id), capped at K_m newest per user and modality, inside the window), dirty
    /// marks, the source offsets and content-cache entries — all or nothing.
    ///
    /// Throws `StoreError.invalidInput` (nothing applied) when an event or entry is malformed.
    public func ingest(_ batch: IngestBatch) async throws -> IngestResult {
        try await ingest(try prepare(batch))
    }

    /// Validates and encodes `batch` for `ingest(_:)` (the CPU work of an ingest, done by the caller), so a caller
    /// can prepare the next batch while the writer thread still applies the previous one.
    public func prepare(_ batch: IngestBatch) throws -> PreparedIngest {
        try validate(batch)
        return PreparedIngest(record: IngestRecord(batch, encoding: configuration.vectorEncoding))
    }

    /// Applies a prepared batch (see `ingest(_: IngestBatch)`).
    public func ingest(_ prepared: PreparedIngest) async throws -> IngestResult {
        let record = prepared.record
        let tables = self.tables
        let config = self.configuration
        return try await writer.submitIngest(record) { txn in
            try record.bytes.withUnsafeBytes { try IngestApplier.apply($0, txn: txn, tables: tables, config: config) }
        }
    }

    func validate(_ batch: IngestBatch) throws {
        let modalities = configuration.modalities
        for (i, e) in batch.events.enumerated() {
            let item = "event #\(i) (\(e.eventID))"
            try Self.validate(e.user, item: item)
            guard e.modality >= 0 && e.modality < modalities.count else {
                throw StoreError.invalidInput(item: item, reason: "modality index \(e.modality) outside 0..<\(modalities.count)")
            }
            let schema = modalities[e.modality]
            let idBytes = e.eventID.utf8.count
            guard idBytes >= 1 && idBytes <= 200 else {
                throw StoreError.invalidInput(item: item, reason: "event id must be 1…200 bytes, got \(idBytes)")
            }
            switch e.content {
            case let .text(vector, hash):
                guard schema.kind == .text else {
                    throw StoreError.invalidInput(item: item, reason: "text content for tabular modality '\(schema.name)'")
                }
                guard hash.count >= 1 && hash.count <= 64 else {
                    throw StoreError.invalidInput(item: item, reason: "text hash must be 1…64 bytes, got \(hash.count)")
                }
                try Self.validate(vector, dimension: schema.dimension, encoding: configuration.vectorEncoding, item: item, what: "vector h")
            case let .tabular(features):
                guard schema.kind == .tabular else {
                    throw StoreError.invalidInput(item: item, reason: "tabular content for text modality '\(schema.name)'")
                }
                try Self.validate(features, dimension: schema.dimension, encoding: configuration.vectorEncoding, item: item, what: "features")
            }
        }
        for (i, o) in batch.offsets.enumerated() {
            guard o.partition >= 0, o.nextOffset >= 0, !o.topic.isEmpty, o.topic.utf8.count <= 249 else {
                throw StoreError.invalidInput(item: "offset #\(i) (\(o.topic)/\(o.partition))",
                                              reason: "need a 1…249 byte topic, partition ≥ 0 and offset ≥ 0")
            }
        }
        for (i, c) in batch.cacheEntries.enumerated() {
            let item = "cache entry #\(i)"
            guard c.modality >= 0 && c.modality < modalities.count, modalities[c.modality].kind == .text else {
                throw StoreError.invalidInput(item: item, reason: "modality \(c.modality) is not a text modality")
            }
            guard c.textHash.count >= 1 && c.textHash.count <= 64 else {
                throw StoreError.invalidInput(item: item, reason: "text hash must be 1…64 bytes, got \(c.textHash.count)")
            }
            try Self.validate(c.vector, dimension: modalities[c.modality].dimension, encoding: configuration.vectorEncoding,
                              item: item, what: "vector")
        }
    }

    static func validate(_ user: UserKey, item: String) throws {
        guard user.partition >= 0 else { throw StoreError.invalidInput(item: item, reason: "partition \(user.partition) < 0") }
        let n = user.userID.utf8.count
        guard n >= 1 && n <= UserKey.maxUserIDBytes else {
            throw StoreError.invalidInput(item: item, reason: "user id must be 1…\(UserKey.maxUserIDBytes) bytes, got \(n)")
        }
    }

    static func validate(_ v: [Float], dimension: Int, encoding: VectorEncoding, item: String, what: String) throws {
        guard v.count == dimension else {
            throw StoreError.invalidInput(item: item, reason: "\(what) has \(v.count) elements, expected \(dimension)")
        }
        let limit: Float = encoding == .float16 ? 65504 : .greatestFiniteMagnitude
        // One branch-free integer pass (vectorizes): |x| > limit, ±inf and NaN all have larger magnitude bits.
        let limitBits = limit.bitPattern
        var over: UInt32 = 0
        v.withUnsafeBufferPointer { for x in $0 { over |= (x.bitPattern & 0x7FFF_FFFF) > limitBits ? 1 : 0 } }
        let allFinite = over == 0
        if !allFinite, let bad = v.firstIndex(where: { !(abs($0) <= limit) }) {
            throw StoreError.invalidInput(item: item, reason: "\(what)[\(bad)] = \(v[bad]) is not finite in \(encoding.rawValue)")
        }
    }
}

/// An `IngestBatch` validated and encoded by `EventStore.prepare`, ready for `EventStore.ingest`. Opaque; only valid
/// for the store that prepared it.
public struct PreparedIngest: Sendable {
    let record: IngestRecord
}
