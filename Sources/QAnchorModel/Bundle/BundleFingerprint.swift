import Foundation

/// The fingerprint of a bundle: the name of the model in every output record and the key that guards every cache.
///
/// Definition (docs/bundle.md, "Fingerprint"; `ops/model/qanchor_reference.py fingerprint` is the reference):
/// 1. the files: `qanchor.json`, `heads.safetensors`, and `config.json`, `model.safetensors`, `tokenizer.json`
///    of the backbone directory and of every distinct encoder directory (directories normalised, each file once);
/// 2. the listing: one line `<lowercase hex SHA-256 of the file's bytes>  <bundle-relative path>\n` per file,
///    sorted by the paths' UTF-8 bytes (the `sha256sum` format: `sha256sum -c` checks a bundle against it);
/// 3. the fingerprint: `"sha256:"` + the lowercase hex SHA-256 of the listing's UTF-8 bytes.
/// Files the model does not read (READMEs, `.gitattributes`) do not count. A value type.
public struct BundleFingerprint: Sendable, Equatable, CustomStringConvertible {
    /// One hashed file.
    public struct Entry: Sendable, Equatable {
        /// Path relative to the bundle directory, `/`-separated.
        public let path: String
        /// Lowercase hex SHA-256 of the file's bytes.
        public let sha256: String
    }

    /// The hashed files, in listing order.
    public let entries: [Entry]
    /// `"sha256:<64 hex digits>"`.
    public let value: String

    public var description: String { value }

    /// The canonical listing the fingerprint hashes.
    public var listing: String { entries.map { "\($0.sha256)  \($0.path)\n" }.joined() }

    /// Hashes the bundle's files as the manifest names them.
    public init(bundleDirectory: URL, manifest: BundleManifest) throws(BundleError) {
        var entries: [Entry] = []
        for path in try Self.files(of: manifest) {
            let url = path.split(separator: "/").reduce(bundleDirectory) { $0.appendingPathComponent(String($1)) }
            entries.append(Entry(path: path, sha256: try Self.sha256(ofFileAt: url, named: path)))
        }
        self.entries = entries
        let listing = entries.map { "\($0.sha256)  \($0.path)\n" }.joined()
        value = "sha256:" + SHA256.hex(of: Array(listing.utf8))
    }

    /// Reads the manifest of `bundleDirectory`, then hashes.
    public init(bundleDirectory: URL) throws(BundleError) {
        try self.init(bundleDirectory: bundleDirectory, manifest: try BundleManifest.load(bundleDirectory: bundleDirectory))
    }

    /// The bundle-relative paths the fingerprint covers, sorted by UTF-8 bytes, each once.
    public static func files(of manifest: BundleManifest) throws(BundleError) -> [String] {
        var dirs: Set<String> = [try BundleManifest.normalizedDirectory(manifest.backbone, field: "backbone")]
        for (i, m) in manifest.modalities.enumerated() where m.kind == .text {
            guard let encoder = m.encoder else {
                throw .invalidField(file: BundleManifest.fileName, field: "modalities[\(i)].encoder",
                                    expected: "an encoder directory", found: "nothing")
            }
            dirs.insert(try BundleManifest.normalizedDirectory(encoder, field: "modalities[\(i)].encoder"))
        }
        var files: Set<String> = [BundleManifest.fileName, BundleManifest.headsFileName]
        for dir in dirs {
            for name in BundleManifest.modelFileNames { files.insert("\(dir)/\(name)") }
        }
        return files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Streams a file through SHA-256 in 1 MiB reads.
    static func sha256(ofFileAt url: URL, named name: String) throws(BundleError) -> String {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw .unreadable(file: name, reason: "missing or unreadable (\(url.path)); every file the model reads is part of the fingerprint")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 1 << 20)
            } catch {
                throw .unreadable(file: name, reason: "read failed: \(error.localizedDescription)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return hasher.finalize().hexString
    }
}
