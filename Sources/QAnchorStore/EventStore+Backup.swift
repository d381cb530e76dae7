import Foundation

extension EventStore {
    /// Writes a consistent, compacted copy of the live store into `directory` (created with mode 0700;
    /// must be absent or empty) while reads and writes continue (`mdb_env_copy2` with `MDB_CP_COMPACT`).
    /// The copy is a complete store: open it directly, or `restore` it into place.
    public func backup(to directory: URL, compact: Bool = true) throws {
        try environment.copy(to: directory, compact: compact)
    }

    /// Installs a backup made by `backup(to:)` as the store in `storeDirectory` (absent or empty), then
    /// opens it with `configuration` to check it (schema, modalities) before returning.
    public static func restore(backup: URL, into storeDirectory: URL, configuration: StoreConfiguration) throws {
        let fm = FileManager.default
        let source = backup.appendingPathComponent("data.mdb")
        guard fm.fileExists(atPath: source.path) else {
            throw StoreError.notAStore(path: backup.path, reason: "no data.mdb in the backup directory")
        }
        if fm.fileExists(atPath: storeDirectory.path) {
            let existing = (try? fm.contentsOfDirectory(atPath: storeDirectory.path)) ?? []
            guard existing.isEmpty else {
                throw StoreError.io(path: storeDirectory.path, operation: "restore", reason: "target store directory is not empty")
            }
        } else {
            do {
                try fm.createDirectory(at: storeDirectory, withIntermediateDirectories: true,
                                       attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.io(path: storeDirectory.path, operation: "create directory", reason: "\(error)")
            }
        }
        let target = storeDirectory.appendingPathComponent("data.mdb")
        do {
            try fm.copyItem(at: source, to: target)
            try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target.path)
        } catch {
            throw StoreError.io(path: target.path, operation: "restore copy", reason: "\(error)")
        }
        var config = configuration
        config.directory = storeDirectory
        let store = try EventStore(configuration: config)
        store.close()
    }
}
