extension EventStore {
    /// One step of the incremental expiry sweep: in one small write transaction, removes up to `limit`
    /// events and snapshots older than `nowMs − window` (reading the time-ordered expiry index from its
    /// head) and marks their users dirty for those modalities. Call until `hasMore` is false.
    public func sweepExpired(nowMs: Int64, limit: Int = 1000) async throws -> ExpirySweepResult {
        let tables = self.tables
        let cutoff = nowMs - configuration.windowMilliseconds
        let limit = max(1, limit)
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
                let item = try k.withUnsafeBytes { try Keys.decodeItem($0, table: "expiry", offset: 8) }
                switch UserRecordTag(rawValue: item.tag) {
                case .event?:
                    let indexKey = Keys.event(item.user, item.modality, item.timestampMs, item.eventID)
                    if let v = try txn.get(tables.users, indexKey) {
                        let sequence = try RecordCoding.decodeEventIndex(v).sequence
                        try ctx.removeEvent(item, indexKey: indexKey, sequence: sequence)
                        result.removedEvents += 1
                        ctx.markDirty(item.user, modality: item.modality)
                    } else {
                        try txn.delete(tables.expiry, k)
                    }
                case .snapshot?:
                    if let v = try txn.get(tables.users, Keys.snapshot(item.user, item.modality)),
                       case let head = try RecordCoding.decodeSnapshotHead(v),
                       head.eventID == item.eventID && head.timestampMs == item.timestampMs {
                        try ctx.removeSnapshot(item.user, modality: item.modality, head: head)
                        result.removedSnapshots += 1
                        ctx.markDirty(item.user, modality: item.modality)
                    } else {
                        try txn.delete(tables.expiry, k)
                    }
                default:
                    throw StoreError.corruptRecord(table: "expiry", key: hex(k), reason: "unknown item tag \(item.tag)")
                }
            }
            result.dirtiedUsers = try ctx.finish(nowMs: nowMs)
            result.removed = ctx.removedEvents
            return result
        }
    }
}
