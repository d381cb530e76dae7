extension EventStore {
    /// One user's whole state (all modalities, events oldest first with their vectors, snapshots, the
    /// last refresh and the dirty mark), or nil when the store has never held anything for the user.
    /// `withVectors: false` leaves every event's `vector` empty (no `vectors` reads: times, ids and text hashes only).
    public func userState(_ user: UserKey, withVectors: Bool = true) throws -> UserState? {
        try Self.validate(user, item: "user \(user)")
        return try read { txn in try userState(user, withVectors: withVectors, txn: txn) }
    }

    func userState(_ user: UserKey, withVectors: Bool = true, txn: LMDBTransaction) throws -> UserState? {
        guard let raw = try txn.get(tables.users, Keys.header(user)) else { return nil }
        let header = try UserHeader(decoding: raw)
        var modalities = configuration.modalities.enumerated().map { i, m in
            ModalityState(modality: i, name: m.name, events: [], snapshot: nil)
        }
        let eventsPrefix = Keys.user(user) + [UserRecordTag.event.rawValue]
        var indexed: [(item: Keys.ItemKey, sequence: UInt64, hash: [UInt8])] = []
        try txn.scan(tables.users, prefix: eventsPrefix) { k, v in
            let item = try Keys.decodeItem(k, table: "users(event)")
            guard item.modality < modalities.count else {
                throw StoreError.corruptRecord(table: "users(event)", key: hex(k), reason: "modality \(item.modality) is not configured")
            }
            let (sequence, hash) = try RecordCoding.decodeEventIndex(v)
            indexed.append((item, sequence, hash))
            return true
        }
        for (item, sequence, hash) in indexed {
            guard withVectors else {
                modalities[item.modality].events.append(
                    StoredEvent(eventID: item.eventID, timestampMs: item.timestampMs, textHash: hash, vector: []))
                continue
            }
            guard let blob = try txn.get(tables.vectors, Keys.sequence(sequence)) else {
                throw StoreError.corruptRecord(table: "vectors", key: "\(sequence)",
                                               reason: "vector of event \(item.eventID) of \(user) is missing")
            }
            let vector = try VectorCodec.decode(blob, table: "vectors", key: "\(sequence)")
            modalities[item.modality].events.append(
                StoredEvent(eventID: item.eventID, timestampMs: item.timestampMs, textHash: hash, vector: vector))
        }
        for (i, m) in configuration.modalities.enumerated() where m.kind == .tabular {
            if let v = try txn.get(tables.users, Keys.snapshot(user, i)) {
                modalities[i].snapshot = try RecordCoding.decodeSnapshot(v)
            }
        }
        return UserState(user: user, modalities: modalities, refresh: try refresh(user, header, txn: txn),
                         dirty: header.dirtyUser(user))
    }

    /// Finds the partition holding `userID` (one lookup per partition present), or nil.
    public func locateUser(_ userID: String) throws -> UserKey? {
        try read { txn in
            for p in try partitions(txn: txn) {
                let key = UserKey(partition: p, userID: userID)
                if try txn.get(tables.users, Keys.header(key)) != nil { return key }
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
        try read { txn in try users(inPartition: partition, after: after, limit: limit, txn: txn) }
    }

    func users(inPartition partition: Int32, after: UserKey?, limit: Int, txn: LMDBTransaction) throws -> [UserKey] {
        var result: [UserKey] = []
        let prefix = Keys.partition(partition)
        let cursor = try txn.cursor(tables.users)
        // Hop from user range to user range: read one header, then seek past that user's range.
        var entry = try cursor.seek(atOrAfter: after.flatMap { Keys.successor(of: Keys.user($0)) } ?? prefix)
        while let (k, _) = entry, k.starts(with: prefix), result.count < limit {
            let (user, rest) = try Keys.decodeUser(k, table: "users")
            if rest < k.count && k[rest] == UserRecordTag.header.rawValue { result.append(user) }
            guard let next = Keys.successor(of: Keys.user(user)) else { break }
            entry = try cursor.seek(atOrAfter: next)
        }
        return result
    }

    /// The last refresh of `user`, or nil.
    public func refreshRecord(_ user: UserKey) throws -> RefreshRecord? {
        try read { txn in
            guard let raw = try txn.get(tables.users, Keys.header(user)) else { return nil }
            return try refresh(user, try UserHeader(decoding: raw), txn: txn)
        }
    }

    /// The header's refresh record with its input digest (`U|05`).
    func refresh(_ user: UserKey, _ header: UserHeader, txn: LMDBTransaction) throws -> RefreshRecord? {
        guard var record = header.refresh else { return nil }
        if let digest = try txn.get(tables.users, Keys.digest(user)) { record.inputDigest = Array(digest) }
        return record
    }

    /// The output records last published for `user`: scenario id → bytes.
    public func publishedOutputs(_ user: UserKey) throws -> [String: [UInt8]] {
        try read { txn in
            let prefix = Keys.user(user) + [UserRecordTag.output.rawValue]
            var result: [String: [UInt8]] = [:]
            try txn.scan(tables.users, prefix: prefix) { k, v in
                result[String(decoding: k[prefix.count...], as: UTF8.self)] = Array(v)
                return true
            }
            return result
        }
    }

    /// Cached vectors for `textHashes` of `modality` (nil where absent), in one read transaction.
    public func cachedVectors(modality: Int, textHashes: [[UInt8]]) throws -> [[Float]?] {
        guard modality >= 0 && modality < configuration.modalities.count else {
            throw StoreError.invalidInput(item: "cache lookup", reason: "modality index \(modality) outside 0..<\(configuration.modalities.count)")
        }
        return try read { txn in
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

extension EventStore {
    /// For each (user, modality, event id), whether the store holds that event (its dedup entry), in one read
    /// transaction. Invalid keys read as absent.
    public func containsEvents(_ events: [(user: UserKey, modality: Int, eventID: String)]) throws -> [Bool] {
        guard !events.isEmpty else { return [] }
        return try read { txn in
            try events.map { e in
                guard (1...200).contains(e.user.userID.utf8.count), (0..<256).contains(e.modality) else { return false }
                return try txn.get(tables.users, Keys.dedup(e.user, e.modality, e.eventID)) != nil
            }
        }
    }
}
