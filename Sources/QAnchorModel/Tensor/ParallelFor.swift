import Dispatch
import Synchronization

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

/// Runs `body(range)` over `0..<count` in chunks of `grain` items that `workers` threads claim one at a time from a
/// shared counter (the calling thread is one of them). Unlike ``parallelFor(_:parts:minimumChunk:_:)``'s fixed
/// halves, a worker that the OS deschedules (a shared machine) delays only the chunk it holds, not half the work.
/// Chunks are disjoint; `body` must only touch its own chunk. Used by the bf16 matrix product, attention softmax and
/// SwiGLU (row-wise work: the chunking never changes a result).
func parallelForDynamic(_ count: Int, workers: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let grain = max(1, grain)
    let workers = max(1, min(workers, (count + grain - 1) / grain))
    if workers == 1 { body(0..<count); return }
    let next = Atomic<Int>(0)
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let start = next.wrappingAdd(grain, ordering: .relaxed).oldValue
                if start >= count { return }
                box.value(start ..< min(count, start + grain))
            }
        }
    }
}
