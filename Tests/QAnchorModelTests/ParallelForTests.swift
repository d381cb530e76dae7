import Testing
@testable import QAnchorModel

@Suite struct ParallelForTests {
    /// Every index is handed out exactly once, whatever the worker count; with more than one worker, in chunks of at most
    /// `grain` (one worker takes the whole range in one call).
    @Test(arguments: [(1, 1), (2, 1), (2, 7), (3, 16), (4, 5000)])
    func dynamicChunksCoverEveryIndexOnce(workers: Int, grain: Int) {
        let count = 1001
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        let largest = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        largest.initialize(repeating: 0)
        defer { largest.deallocate() }
        parallelForDynamic(count, workers: workers, grain: grain) { range in
            for i in range { hits[i] += 1; largest[i] = range.count }
        }
        #expect(hits.allSatisfy { $0 == 1 })
        #expect(largest.allSatisfy { $0 >= 1 && $0 <= (workers == 1 ? count : grain) })
        var calls = 0
        parallelForDynamic(0, workers: workers, grain: grain) { _ in calls += 1 }
        #expect(calls <= 1)
    }
}
