extension EventStore {
    /// One step of the content-cache sweep: removes up to `limit` cache entries not stored (or re-stored)
    /// within the window as of `nowMs`, continuing where the previous step stopped (the position is kept
    /// in the meta table). Returns the number removed and whether the walk wrapped around to the start.
    ///
    /// Entries refresh their day when they are put again through `IngestBatch.cacheEntries`, so a daemon
    /// that re-puts a hit at most once a day keeps hot texts cached.
    public func sweepContentCache(nowMs: Int64, limit: Int = 1000) async throws -> (removed: Int, wrapped: Bool) {
        let tables = self.tables
        let cutoffDay = UInt32(clamping: max(0, (nowMs - configuration.windowMilliseconds) / 86_400_000))
        let limit = max(1, limit)
        return try await write { txn in
            let position = try txn.get(tables.meta, Array("cache_sweep_position".utf8)).map { Array($0) } ?? []
            var doomed: [[UInt8]] = []
            var visited = 0
            var next: [UInt8]? = nil
            do {
                let cursor = try txn.cursor(tables.cache)
                var entry = try cursor.seek(atOrAfter: position)
                while let (k, v) = entry {
                    if visited == limit { next = Array(k); break }
                    var r = ByteReader(v, table: "cache")
                    if try r.u32("last-used day") < cutoffDay { doomed.append(Array(k)) }
                    visited += 1
                    entry = try cursor.next()
                }
            }
            for k in doomed { try txn.delete(tables.cache, k) }
            if let next {
                try txn.put(tables.meta, Array("cache_sweep_position".utf8), next)
            } else {
                try txn.delete(tables.meta, Array("cache_sweep_position".utf8))
            }
            return (doomed.count, next == nil)
        }
    }
}
