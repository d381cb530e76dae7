import Dispatch
import QAnchorModel
import Synchronization

/// Runs model work (BERT encoding, prefill, suffixes) on one dedicated thread, so long CPU-bound calls never
/// occupy Swift's cooperative pool (where the Kafka event loop and the HTTP server run). Calls are serialised:
/// OpenBLAS already uses every core for one call.
///
/// Two priorities: `interactive` work (HTTP queries, text embeddings) starts before any waiting `background` work
/// (ingest encoding, refresh), so a query waits for at most the one call already running. Work may carry a deadline:
/// if it has not started by then it is not run and the caller gets ``Expired``.
///
/// Thread-safe; `run` may be called from any task.
public final class ModelExecutor: Sendable {
    public enum Priority: Sendable {
        case interactive
        case background
    }

    /// The work's deadline passed before it started.
    public struct Expired: Error, Sendable {}

    public let model: QAnchorEmbedder
    private let queue = DispatchQueue(label: "qanchor.model")
    private typealias Job = @Sendable (QAnchorEmbedder) -> Void
    private let pending = Mutex<(interactive: [Job], background: [Job])>(([], []))

    public init(model: QAnchorEmbedder) {
        self.model = model
    }

    /// Jobs queued and not yet started (both priorities).
    public var waitingCount: Int { pending.withLock { $0.interactive.count + $0.background.count } }

    /// Runs `body` on the model thread after the waiting work of higher priority.
    public func run<T: Sendable>(_ priority: Priority = .background, deadline: ContinuousClock.Instant? = nil,
                                 _ body: @escaping @Sendable (QAnchorEmbedder) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let job: Job = { model in
                if let deadline, ContinuousClock.now > deadline {
                    continuation.resume(throwing: Expired())
                    return
                }
                do { continuation.resume(returning: try body(model)) } catch { continuation.resume(throwing: error) }
            }
            pending.withLock { lists in
                switch priority {
                case .interactive: lists.interactive.append(job)
                case .background: lists.background.append(job)
                }
            }
            // One drain step per job: each runs the most urgent job waiting at that moment (not necessarily this one).
            let model = self.model
            queue.async { [self] in
                let next: Job? = pending.withLock { lists in
                    if !lists.interactive.isEmpty { return lists.interactive.removeFirst() }
                    if !lists.background.isEmpty { return lists.background.removeFirst() }
                    return nil
                }
                next?(model)
            }
        }
    }
}
