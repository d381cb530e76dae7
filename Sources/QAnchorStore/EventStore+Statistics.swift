import CLMDB

extension EventStore {
    /// Whole-store figures: users, events per modality, dirty users, cache and KV sizes, offsets and
    /// LMDB map use. Counts come from counters kept by every write and from LMDB's per-table statistics,
    /// so the call is cheap — except `contentCacheBytes`, which needs a scan of the cache table and is
    /// reported as -1 unless `includeCacheBytes` (leave it off for frequent metrics scrapes).
    public func statistics(includeCacheBytes: Bool = true) throws -> StoreStatistics {
        try read { txn in
            var events: [String: Int] = [:]
            for (i, m) in configuration.modalities.enumerated() {
                events[m.name] = try Meta.counter(txn, tables, Meta.eventCounterName(i))
            }
            var cacheBytes = includeCacheBytes ? 0 : -1
            if includeCacheBytes {
                try txn.scan(tables.cache, prefix: []) { k, v in cacheBytes += k.count + v.count; return true }
            }
            let info = environment.info()
            let pageSize = environment.pageSize
            return StoreStatistics(
                schemaVersion: Self.schemaVersion,
                directory: configuration.directory.path,
                users: try Meta.counter(txn, tables, "count/users"),
                eventsByModality: events,
                dirtyUsers: Int(try txn.stat(tables.dirty).ms_entries),
                contentCacheEntries: Int(try txn.stat(tables.cache).ms_entries),
                contentCacheBytes: cacheBytes,
                prefixKVEntries: Int(try txn.stat(tables.prefixLRU).ms_entries),
                prefixKVBytes: try Meta.counter(txn, tables, "kv/bytes"),
                offsets: try storedOffsets(partition: nil, txn: txn),
                mapSizeBytes: info.me_mapsize,
                mapUsedBytes: (info.me_last_pgno + 1) * pageSize,
                pageSize: pageSize,
                lastTransactionID: info.me_last_txnid,
                readersInUse: Int(info.me_numreaders),
                maxReaders: Int(info.me_maxreaders))
        }
    }
}
