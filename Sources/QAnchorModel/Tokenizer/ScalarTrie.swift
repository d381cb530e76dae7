/// A trie over Unicode scalars mapping strings to token ids, for longest-prefix lookups without building
/// substrings. Edges live in one dictionary keyed by (node, scalar). Immutable after building; `Sendable`.
struct ScalarTrie: Sendable {
    /// Child node by `(node << 32) | scalar`.
    private var children: [UInt64: Int32] = [:]
    /// Token id ending at each node, or -1.
    private var terminals: [Int32] = [-1]

    @inline(__always)
    private static func edge(_ node: Int32, _ s: Unicode.Scalar) -> UInt64 {
        UInt64(UInt32(bitPattern: node)) << 32 | UInt64(s.value)
    }

    /// Adds `key` with `id` (a later insert of the same key wins).
    mutating func insert<S: Sequence>(_ key: S, id: Int32) where S.Element == Unicode.Scalar {
        var node: Int32 = 0
        for s in key {
            let e = Self.edge(node, s)
            if let child = children[e] {
                node = child
            } else {
                let child = Int32(terminals.count)
                terminals.append(-1)
                children[e] = child
                node = child
            }
        }
        terminals[Int(node)] = id
    }

    /// The longest key that is a prefix of `text[start...]`: its end index and id, or nil if none.
    func longestPrefix(of text: ArraySlice<Unicode.Scalar>, from start: Int) -> (end: Int, id: Int32)? {
        var node: Int32 = 0
        var best: (end: Int, id: Int32)?
        var i = start
        while i < text.endIndex, let child = children[Self.edge(node, text[i])] {
            node = child
            i += 1
            let t = terminals[Int(node)]
            if t >= 0 { best = (i, t) }
        }
        return best
    }
}
