import Foundation
import Logging

/// The benchmark peer of `qanchor bench store`: LMDB's own floor for the same bytes — one plain
/// `mdb_put` per event (key and value pre-built, no dedup, index, cap or dirty bookkeeping), `batch`
/// puts per durable commit, like `mdb_load`. Not part of the store's API.
@_spi(Benchmark)
public enum RawLMDBPeer {
    /// Writes `keys[i] → values[i % values.count]` and returns the elapsed seconds.
    public static func run(directory: URL, keys: [[UInt8]], values: [[UInt8]], batch: Int) throws -> Double {
        var options = LMDBEnvironmentOptions()
        options.initialMapSize = 1 << 34
        let env = try LMDBEnvironment(directory: directory, options: options, logger: Logger(label: "qanchor.bench"))
        defer { env.close() }
        let setup = try env.beginWrite()
        guard let db = try env.openDatabase("raw", in: setup, create: true) else {
            throw StoreError.invalidConfiguration("cannot create the peer database")
        }
        try setup.commit()
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < keys.count {
            let txn = try env.beginWrite()
            for j in i..<min(i + batch, keys.count) { try txn.put(db, keys[j], values[j % values.count]) }
            try txn.commit()
            i += batch
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
