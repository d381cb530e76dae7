import Synchronization

/// A bounded, thread-safe cache from a pre-tokenized piece (its UTF-8 bytes) to its BPE token ids.
///
/// Entries are never evicted: once `capacity` pieces are stored, new pieces are computed but not cached
/// (the `tokenizers` library does the same). The lock is held only for the dictionary lookup or insert.
final class BPEMergeCache: Sendable {
    let capacity: Int
    private let storage = Mutex<[[UInt8]: [Int32]]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func lookup(_ key: [UInt8]) -> [Int32]? {
        storage.withLock { $0[key] }
    }

    func insert(_ key: [UInt8], _ ids: [Int32]) {
        storage.withLock { dict in
            if dict.count < capacity { dict[key] = ids }
        }
    }
}
