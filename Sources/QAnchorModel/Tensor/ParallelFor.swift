import Dispatch

/// Runs `body(range)` over `0..<count` split into at most `parts` contiguous chunks, in parallel on Dispatch's
/// worker threads (the calling thread takes part). Used for the element-wise kernels between matrix products, so
/// that they use the same cores OpenBLAS does. `body` must only touch its own chunk.
@inline(__always)
func parallelFor(_ count: Int, parts: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(parts, count / max(1, minimumChunk)))
    if chunks == 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            box.value(c * count / chunks ..< (c + 1) * count / chunks)
        }
    }
}

/// Carries a non-Sendable value into `concurrentPerform`; callers guarantee the chunks touch disjoint memory.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
