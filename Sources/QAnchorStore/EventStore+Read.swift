extension EventStore {
    /// One user's whole state (all modalities, events oldest first with their vectors, snapshots, the
    /// last refresh and the dirty mark), or nil when the store has never held anything for the user.
    public func userState(_ user: UserKey) throws -> UserState? {
        try Self.validate(user, item: "user \(user)")
        return try read { txn in try userState(user, txn: txn) }
    }

    func userState(_ user: UserKey, txn: LMDBTransaction) throws -> UserState? {
        let userKey = Keys.user(user)
        guard let row = try txn.get(tables.users, userKey) else { return nil }
        let refresh = try RecordCoding.decodeRefresh(row)
        var modalities = configuration.modalities.enumerated().map { i, m in
            ModalityState(modality: i, name: m.name, events: [], snapshot: nil)
        }
        try txn.scan(tables.events, prefix: userKey) { k, v in
            let key = try Keys.decodeEvent(k, table: "events")
            guard key.modality < modalities.count else {
                throw StoreError.corruptRecord(table: "events", key: hex(k), reason: "modality \(key.modality) is not configured")
            }
            modalities[key.modality].events.append(try RecordCoding.decodeEventValue(v, key: key))
            return true
        }
        for (i, m) in configuration.modalities.enumerated() where m.kind == .tabular {
            if let v = try txn.get(tables.tabular, Keys.userModality(user, i)) {
                modalities[i].snapshot = try RecordCoding.decodeTabular(v)
            }
        }
        let dirty = try txn.get(tables.dirty, userKey).map { try RecordCoding.decodeDirty(user, $0) }
        return UserState(user: user, modalities: modalities, refresh: refresh, dirty: dirty)
    }

    /// Finds the partition holding `userID` (one lookup per partition present), or nil.
    public func locateUser(_ userID: String) throws -> UserKey? {
        try read { txn in
            for p in try partitions(txn: txn) {
                let key = UserKey(partition: p, userID: userID)
                if try txn.get(tables.users, Keys.user(key)) != nil { return key }
            }
            return nil
        }
    }

    /// The partitions that have users, ascending.
    public func partitions() throws -> [Int32] {
        try read { txn in try partitions(txn: txn) }
    }

    func partitions(txn: LMDBTransaction) throws -> [Int32] {
        var result: [Int32] = []
        let cursor = try txn.cursor(tables.users)
        var entry = try cursor.first()
        while let (k, _) = entry {
            var r = ByteReader(k, table: "users")
            let p = Int32(bitPattern: try r.u32("partition"))
            result.append(p)
            guard let next = Keys.successor(of: Keys.partition(p)) else { break }
            entry = try cursor.seek(atOrAfter: next)
        }
        return result
    }

    /// Users of `partition` in key order, after `after` (exclusive), at most `limit`: a page.
    public func users(inPartition partition: Int32, after: UserKey? = nil, limit: Int) throws -> [UserKey] {
        try read { txn in
            var result: [UserKey] = []
            let prefix = Keys.partition(partition)
            let start = after.map { Keys.user($0) + [0] } ?? prefix
            let cursor = try txn.cursor(tables.users)
            var entry = try cursor.seek(atOrAfter: start)
            while let (k, _) = entry, k.starts(with: prefix), result.count < limit {
                result.append(try Keys.decodeUser(k, table: "users").0)
                entry = try cursor.next()
            }
            return result
        }
    }

    /// The last refresh of `user`, or nil.
    public func refreshRecord(_ user: UserKey) throws -> RefreshRecord? {
        try read { txn in
            try txn.get(tables.users, Keys.user(user)).flatMap { try RecordCoding.decodeRefresh($0) }
        }
    }

    /// The output records last published for `user`: scenario id → bytes.
    public func publishedOutputs(_ user: UserKey) throws -> [String: [UInt8]] {
        try read { txn in
            let prefix = Keys.user(user)
            var result: [String: [UInt8]] = [:]
            try txn.scan(tables.outputs, prefix: prefix) { k, v in
                result[String(decoding: k[prefix.count...], as: UTF8.self)] = Array(v)
                return true
            }
            return result
        }
    }

    /// Cached vectors for `textHashes` of `modality` (nil where absent), in one read transaction.
    public func cachedVectors(modality: Int, textHashes: [[UInt8]]) throws -> [[Float]?] {
        try read { txn in
            try textHashes.map { hash in
                guard let v = try txn.get(tables.cache, Keys.cache(modality, hash)) else { return nil }
                var r = ByteReader(v, table: "cache")
                _ = try r.u32("last-used day")
                return try VectorCodec.decode(r.restView(), table: "cache", key: hex(hash))
            }
        }
    }

    /// Stored consumer offsets, all or those of one partition.
    public func storedOffsets(partition: Int32? = nil) throws -> [SourceOffset] {
        try read { txn in try storedOffsets(partition: partition, txn: txn) }
    }

    func storedOffsets(partition: Int32?, txn: LMDBTransaction) throws -> [SourceOffset] {
        var result: [SourceOffset] = []
        try txn.scan(tables.offsets, prefix: partition.map(Keys.partition) ?? []) { k, v in
            var kr = ByteReader(k, table: "offsets")
            let p = Int32(bitPattern: try kr.u32("partition"))
            let topic = String(decoding: kr.rest(), as: UTF8.self)
            var vr = ByteReader(v, table: "offsets")
            result.append(SourceOffset(topic: topic, partition: p, nextOffset: try vr.i64("offset")))
            return true
        }
        return result
    }
}
