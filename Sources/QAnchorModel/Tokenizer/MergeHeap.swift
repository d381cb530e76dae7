/// A binary min-heap of merge candidates ordered by (rank, position), packed in one UInt64 each.
struct MergeHeap {
    private var items: [UInt64] = []

    mutating func push(rank: Int32, position: Int32) {
        items.append(UInt64(UInt32(rank)) << 32 | UInt64(UInt32(position)))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (rank: Int32, position: Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < n && items[l] < items[smallest] { smallest = l }
                if r < n && items[r] < items[smallest] { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return (Int32(truncatingIfNeeded: top >> 32), Int32(truncatingIfNeeded: top & 0xFFFF_FFFF))
    }
}
