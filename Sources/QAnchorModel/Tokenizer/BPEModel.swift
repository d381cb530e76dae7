/// A byte-level BPE model: vocabulary and ranked merges, applied to the UTF-8 bytes of one piece.
///
/// Invariants (checked when loading): every one of the 256 bytes has a token; every merge's two parts and
/// its result are tokens. Merging follows `tokenizers`' `Word::merge_all`: repeatedly apply the merge of
/// lowest rank among adjacent symbol pairs, the leftmost on ties, until none applies. Immutable apart
/// from its internal cache; safe from any thread.
final class BPEModel: Sendable {
    /// Token strings (byte-level form, as in the file) by id; nil for ids the vocabulary skips.
    let tokens: [String?]
    /// Token ids by their UTF-8 bytes.
    let idsByBytes: [[UInt8]: Int32]
    /// The token id of each single byte.
    let byteIDs: [Int32]
    /// Merge rank by pair `(left id << 32) | right id`.
    let mergeRanks: [UInt64: Int32]
    /// The id a merge of rank `r` produces.
    let mergeResults: [Int32]
    /// When true, a piece that is itself a token is emitted whole, without merging.
    let ignoreMerges: Bool
    private let cache: BPEMergeCache

    init(tokens: [String?], idsByBytes: [[UInt8]: Int32], byteIDs: [Int32], mergeRanks: [UInt64: Int32],
         mergeResults: [Int32], ignoreMerges: Bool, cacheCapacity: Int = 10_000) {
        self.tokens = tokens
        self.idsByBytes = idsByBytes
        self.byteIDs = byteIDs
        self.mergeRanks = mergeRanks
        self.mergeResults = mergeResults
        self.ignoreMerges = ignoreMerges
        self.cache = BPEMergeCache(capacity: cacheCapacity)
    }

    @inline(__always)
    private static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// Appends the token ids of `piece` (the UTF-8 bytes of one pre-tokenized piece) to `out`.
    func tokenize(_ piece: [UInt8], into out: inout [Int]) {
        if piece.isEmpty { return }
        if ignoreMerges, let id = idsByBytes[piece] {
            out.append(Int(id))
            return
        }
        if piece.count == 1 {
            out.append(Int(byteIDs[Int(piece[0])]))
            return
        }
        if let ids = cache.lookup(piece) {
            for id in ids { out.append(Int(id)) }
            return
        }
        let ids = merge(piece)
        cache.insert(piece, ids)
        for id in ids { out.append(Int(id)) }
    }

    /// The BPE merge loop over a doubly linked list of symbols with a min-heap of candidate merges keyed by
    /// (rank, position):
    ///   symbols = bytes of the piece
    ///   heap = {(rank(s[i], s[i+1]), i)}
    ///   pop min; skip it if stale (the pair at i changed); else s[i] = merged, drop s[next], push the new
    ///   pairs (prev, i) and (i, next).
    private func merge(_ piece: [UInt8]) -> [Int32] {
        let n = piece.count
        var ids = piece.map { byteIDs[Int($0)] }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i) - 1 }
            count = n
        }
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = i + 1 < n ? Int32(i + 1) : -1 }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let rank = mergeRanks[Self.pairKey(ids[i], ids[i + 1])] { heap.push(rank: rank, position: Int32(i)) }
        }
        while let (rank, position) = heap.pop() {
            let pos = Int(position)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // Stale entry: the pair at `pos` no longer produces this merge's token.
            guard let current = mergeRanks[Self.pairKey(ids[pos], ids[right])],
                  mergeResults[Int(current)] == mergeResults[Int(rank)] else { continue }
            ids[pos] = mergeResults[Int(rank)]
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0 {
                let left = Int(prev[pos])
                if let r = mergeRanks[Self.pairKey(ids[left], ids[pos])] { heap.push(rank: r, position: Int32(left)) }
            }
            if next[pos] >= 0 {
                if let r = mergeRanks[Self.pairKey(ids[pos], ids[Int(next[pos])])] { heap.push(rank: r, position: position) }
            }
        }
        var result = [Int32]()
        result.reserveCapacity(n)
        var i: Int32 = 0
        while i >= 0 {
            result.append(ids[Int(i)])
            i = next[Int(i)]
        }
        return result
    }
}
