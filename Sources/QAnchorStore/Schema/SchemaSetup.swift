import Foundation
import Logging

/// Opens the named databases, checks (or writes) the schema version and the modality list.
enum SchemaSetup {
    static let magic = "qanchor-store"

    static func openOrCreate(_ env: LMDBEnvironment, configuration: StoreConfiguration, logger: Logger)
        throws -> (Tables, [ModalitySchema]) {
        let path = env.directory.path
        let txn = try env.beginWrite()
        defer { txn.abort() }
        guard let main = try env.openDatabase(nil, in: txn, create: false) else {
            throw StoreError.notAStore(path: path, reason: "no main database")
        }
        // Named databases are keys of the main database: anything else there is a foreign store.
        var present: [String] = []
        try txn.scan(main, prefix: []) { k, _ in
            present.append(String(decoding: k, as: UTF8.self))
            return true
        }
        let foreign = present.filter { !Tables.names.contains($0) }
        if !foreign.isEmpty {
            throw StoreError.notAStore(path: path, reason: "unknown databases \(foreign.prefix(5)) (another application's LMDB?)")
        }
        let fresh = present.isEmpty
        if !fresh && !present.contains("meta") {
            throw StoreError.notAStore(path: path, reason: "no meta table (found \(present))")
        }
        var opened: [String: LMDBDatabase] = [:]
        for name in Tables.names {
            opened[name] = try env.openDatabase(name, in: txn, create: true)
        }
        let tables = Tables(opened)
        var modalities = configuration.modalities
        let names = modalities.map(\.name)
        if fresh {
            guard !modalities.isEmpty else {
                throw StoreError.invalidConfiguration("\(path) holds no store yet: the modalities must be configured to create one")
            }
            try txn.put(tables.meta, Array("magic".utf8), Array(magic.utf8))
            try Meta.putU64(txn, tables, "schema_version", UInt64(EventStore.schemaVersion))
            try txn.put(tables.meta, Array("modalities".utf8), try encode(modalities))
            logger.info("created store", metadata: ["store": "\(path)", "schema": "\(EventStore.schemaVersion)"])
        } else {
            guard let m = try txn.get(tables.meta, Array("magic".utf8)), String(decoding: m, as: UTF8.self) == magic else {
                throw StoreError.notAStore(path: path, reason: "meta table lacks the qanchor magic")
            }
            let version = try Meta.u64(txn, tables, "schema_version")
            guard let version else { throw StoreError.notAStore(path: path, reason: "meta table lacks schema_version") }
            if version > UInt64(EventStore.schemaVersion) {
                throw StoreError.schemaTooNew(path: path, found: UInt32(clamping: version), supported: EventStore.schemaVersion)
            }
            // Version 1 → 2 adds the optional `U|05` input-digest record: nothing to rewrite, only the version
            // (so an older qanchor, which does not know that record, refuses the store).
            // Version 2 → 3 splits a cached prefix state into header and body: the cache is emptied (it is only a
            // cache; entries are recomputed on demand).
            if version < 3 {
                try txn.empty(tables.prefixKV)
                try txn.empty(tables.prefixLRU)
                try Meta.putU64(txn, tables, "kv/bytes", 0)
            }
            if version < UInt64(EventStore.schemaVersion) {
                try Meta.putU64(txn, tables, "schema_version", UInt64(EventStore.schemaVersion))
                logger.info("migrated store schema", metadata: ["from": "\(version)", "to": "\(EventStore.schemaVersion)"])
            }
            guard let raw = try txn.get(tables.meta, Array("modalities".utf8)) else {
                throw StoreError.notAStore(path: path, reason: "meta table lacks the modality list")
            }
            let stored: [ModalitySchema]
            do {
                stored = try JSONDecoder().decode([ModalitySchema].self, from: Data(raw))
            } catch {
                throw StoreError.corruptRecord(table: "meta", key: "modalities", reason: "\(error)")
            }
            if modalities.isEmpty {
                modalities = stored
            } else {
                for (i, s) in stored.enumerated() {
                    guard i < names.count else {
                        throw StoreError.modalityMismatch(path: path, index: i, stored: s.name, configured: "(none)")
                    }
                    if s.name != names[i] {
                        throw StoreError.modalityMismatch(path: path, index: i, stored: s.name, configured: names[i])
                    }
                    if s.kind != modalities[i].kind {
                        throw StoreError.modalityMismatch(path: path, index: i, stored: "\(s.name) (\(s.kind.rawValue))",
                                                          configured: "\(names[i]) (\(modalities[i].kind.rawValue))")
                    }
                }
                if stored != modalities { try txn.put(tables.meta, Array("modalities".utf8), try encode(modalities)) }
            }
        }
        try txn.commit()
        return (tables, modalities)
    }

    private static func encode(_ modalities: [ModalitySchema]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(modalities))
    }
}

/// Typed access to meta-table entries (counters, sequence numbers).
enum Meta {
    static func u64(_ txn: LMDBTransaction, _ t: Tables, _ name: String) throws -> UInt64? {
        guard let v = try txn.get(t.meta, Array(name.utf8)) else { return nil }
        var r = ByteReader(v, table: "meta")
        return try r.u64(name)
    }

    static func putU64(_ txn: LMDBTransaction, _ t: Tables, _ name: String, _ value: UInt64) throws {
        var w = ByteWriter(capacity: 8); w.u64(value)
        try txn.put(t.meta, Array(name.utf8), w.bytes)
    }

    /// Adds `delta` to a signed counter (stored as two's complement u64).
    static func add(_ txn: LMDBTransaction, _ t: Tables, _ name: String, _ delta: Int) throws {
        guard delta != 0 else { return }
        let old = Int64(bitPattern: try u64(txn, t, name) ?? 0)
        try putU64(txn, t, name, UInt64(bitPattern: old + Int64(delta)))
    }

    static func counter(_ txn: LMDBTransaction, _ t: Tables, _ name: String) throws -> Int {
        Int(Int64(bitPattern: try u64(txn, t, name) ?? 0))
    }

    /// The next dirty generation (strictly increasing across the store's life).
    static func nextGeneration(_ txn: LMDBTransaction, _ t: Tables) throws -> UInt64 {
        let g = (try u64(txn, t, "dirty_seq") ?? 0) + 1
        try putU64(txn, t, "dirty_seq", g)
        return g
    }

    static func eventCounterName(_ m: Int) -> String { "count/events/\(m)" }
}
