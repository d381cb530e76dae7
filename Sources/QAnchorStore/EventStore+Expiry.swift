extension EventStore {
    /// One step of the incremental expiry sweep: in one small write transaction, removes up to `limit`
    /// events and snapshots older than `nowMs − window` (reading the time-ordered expiry index from its
    /// head) and marks their users dirty for those modalities. Call until `hasMore` is false.
    public func sweepExpired(nowMs: Int64, limit: Int = 1000) async throws -> ExpirySweepResult {
        let tables = self.tables
        let cutoff = nowMs - configuration.windowMilliseconds
        let modalities = configuration.modalities
        return try await write { txn in
            var result = ExpirySweepResult()
            var ctx = WriteContext(txn: txn, tables: tables)
            var expired: [[UInt8]] = []
            do {
                let cursor = try txn.cursor(tables.expiry)
                var entry = try cursor.first()
                while let (k, _) = entry {
                    var r = ByteReader(k, table: "expiry")
                    if try r.time("expiry time") >= cutoff { break }
                    if expired.count == limit { result.hasMore = true; break }
                    expired.append(Array(k))
                    entry = try cursor.next()
                }
            }
            for k in expired {
                let key = try k.withUnsafeBytes { try Keys.decodeEvent($0, table: "expiry", offset: 8) }
                let eventKey = Array(k[8...])
                guard key.modality < modalities.count else {
                    throw StoreError.corruptRecord(table: "expiry", key: hex(k), reason: "modality \(key.modality) is not configured")
                }
                if modalities[key.modality].kind == .tabular {
                    let slot = Keys.userModality(key.user, key.modality)
                    if let v = try txn.get(tables.tabular, slot) {
                        let head = try RecordCoding.decodeTabularHead(v)
                        if head.eventID == key.eventID && head.timestampMs == key.timestampMs {
                            try ctx.removeSnapshot(key.user, modality: key.modality, head: head)
                            result.removedSnapshots += 1
                            ctx.markDirty(key.user, modality: key.modality)
                            continue
                        }
                    }
                    try txn.delete(tables.expiry, k)   // stale index entry
                } else {
                    if try txn.get(tables.events, eventKey) != nil {
                        try ctx.removeEvent(key, keyBytes: eventKey)
                        result.removedEvents += 1
                        ctx.markDirty(key.user, modality: key.modality)
                    } else {
                        try txn.delete(tables.expiry, k)
                    }
                }
            }
            result.dirtiedUsers = try ctx.finish(nowMs: nowMs)
            return result
        }
    }
}
