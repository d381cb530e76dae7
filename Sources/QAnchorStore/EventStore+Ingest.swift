extension EventStore {
    /// Applies `batch` in one write transaction and returns after it committed: events (deduplicated by
    /// (modality, event id), capped at K_m newest per user and modality, inside the window), dirty
    /// marks, the source offsets and content-cache entries — all or nothing.
    ///
    /// Throws `StoreError.invalidInput` (nothing applied) when an event or entry is malformed.
    public func ingest(_ batch: IngestBatch) async throws -> IngestResult {
        try validate(batch)
        let tables = self.tables
        let config = self.configuration
        return try await write { txn in
            try Self.apply(batch, txn: txn, tables: tables, config: config)
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
        // One branch-free pass (NaN fails `<=` too); locate the culprit only when there is one.
        var allFinite = true
        v.withUnsafeBufferPointer { for x in $0 { allFinite = allFinite && (abs(x) <= limit) } }
        if !allFinite, let bad = v.firstIndex(where: { !(abs($0) <= limit) }) {
            throw StoreError.invalidInput(item: item, reason: "\(what)[\(bad)] = \(v[bad]) is not finite in \(encoding.rawValue)")
        }
    }

    /// The body of an ingest transaction.
    static func apply(_ batch: IngestBatch, txn: LMDBTransaction, tables: Tables, config: StoreConfiguration) throws -> IngestResult {
        var result = IngestResult()
        var ctx = WriteContext(txn: txn, tables: tables)
        let cutoff = batch.nowMs - config.windowMilliseconds
        let encoding = config.vectorEncoding
        // Index keys inserted by this batch, per (user, text modality) touched.
        var inserted: [[UInt8]: (user: UserKey, modality: Int, keys: Set<[UInt8]>)] = [:]

        for e in batch.events {
            if e.timestampMs < cutoff { result.outsideWindow += 1; continue }
            let dedupKey = Keys.dedup(e.user, e.modality, e.eventID)
            if try txn.get(tables.users, dedupKey) != nil { result.duplicates += 1; continue }
            try ctx.ensureUser(e.user)
            var time = ByteWriter(capacity: 8); time.time(e.timestampMs)

            switch e.content {
            case let .text(vector, hash):
                let sequence = try ctx.nextVectorSequence()
                try txn.put(tables.vectors, Keys.sequence(sequence),
                            reserving: VectorCodec.encodedSize(count: vector.count, encoding: encoding), append: true) { out in
                    VectorCodec.encode(vector, encoding: encoding, into: out)
                }
                let indexKey = Keys.event(e.user, e.modality, e.timestampMs, e.eventID)
                try txn.put(tables.users, indexKey, RecordCoding.encodeEventIndex(sequence: sequence, textHash: hash))
                try txn.put(tables.expiry, Keys.expiry(.event, e.user, e.modality, e.timestampMs, e.eventID), [])
                ctx.counterDeltas[e.modality, default: 0] += 1
                inserted[Keys.eventPrefix(e.user, e.modality), default: (e.user, e.modality, [])].keys.insert(indexKey)
            case let .tabular(features):
                let slot = Keys.snapshot(e.user, e.modality)
                if let old = try txn.get(tables.users, slot) {
                    let head = try RecordCoding.decodeSnapshotHead(old)
                    if (head.timestampMs, head.eventID) >= (e.timestampMs, e.eventID) {
                        result.superseded += 1
                        continue
                    }
                    try ctx.removeSnapshot(e.user, modality: e.modality, head: head)
                    result.pruned += 1
                }
                var value = ByteWriter(capacity: 16 + e.eventID.utf8.count + features.count * 4)
                value.time(e.timestampMs); value.short(e.eventID.utf8)
                value.append(VectorCodec.encode(features, encoding: encoding))
                try txn.put(tables.users, slot, value.bytes)
                try txn.put(tables.expiry, Keys.expiry(.snapshot, e.user, e.modality, e.timestampMs, e.eventID), [])
                ctx.counterDeltas[e.modality, default: 0] += 1
                ctx.markDirty(e.user, modality: e.modality)
                result.stored += 1
            }
            try txn.put(tables.users, dedupKey, time.bytes)
        }

        // Enforce K_m and the window on every (user, text modality) this batch added to.
        for (prefix, entry) in inserted {
            let cap = config.modalities[entry.modality].cap
            var survivors = entry.keys
            var doomed: [(key: [UInt8], sequence: UInt64)] = []
            do {
                let cursor = try txn.cursor(tables.users)
                var kept = 0
                var current = try cursor.last(withPrefix: prefix)
                while let (k, v) = current, k.starts(with: prefix) {
                    var r = ByteReader(k, table: "users(event)", offset: prefix.count)
                    let ts = try r.time("event time")
                    if kept < cap && ts >= cutoff {
                        kept += 1
                    } else {
                        doomed.append((Array(k), try RecordCoding.decodeEventIndex(v).sequence))
                    }
                    current = try cursor.previous()
                }
            }
            for (keyBytes, sequence) in doomed {
                let item = try keyBytes.withUnsafeBytes { try Keys.decodeItem($0, table: "users(event)") }
                try ctx.removeEvent(item, indexKey: keyBytes, sequence: sequence)
                if survivors.remove(keyBytes) != nil { result.superseded += 1 } else {
                    result.pruned += 1
                    ctx.markDirty(entry.user, modality: entry.modality)
                }
            }
            if !survivors.isEmpty {
                result.stored += survivors.count
                ctx.markDirty(entry.user, modality: entry.modality)
            }
        }

        for o in batch.offsets {
            var w = ByteWriter(capacity: 8); w.i64(o.nextOffset)
            try txn.put(tables.offsets, Keys.offset(o.partition, o.topic), w.bytes)
        }
        let day = UInt32(clamping: max(0, batch.nowMs / 86_400_000))
        for c in batch.cacheEntries {
            var w = ByteWriter(capacity: 8 + c.vector.count * 4); w.u32(day)
            w.append(VectorCodec.encode(c.vector, encoding: encoding))
            try txn.put(tables.cache, Keys.cache(c.modality, c.textHash), w.bytes)
        }
        result.dirtiedUsers = try ctx.finish(nowMs: batch.nowMs)
        return result
    }
}
