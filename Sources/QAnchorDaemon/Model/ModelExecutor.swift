import Dispatch
import QAnchorModel

/// Runs model work (BERT encoding, prefill, suffixes) on one dedicated thread, so long CPU-bound calls never
/// occupy Swift's cooperative pool (where the Kafka event loop and the HTTP server run). Calls are serialised:
/// OpenBLAS already uses every core for one call.
///
/// Thread-safe; `run` may be called from any task.
public final class ModelExecutor: Sendable {
    public let model: QAnchorEmbedder
    private let queue = DispatchQueue(label: "qanchor.model")

    public init(model: QAnchorEmbedder) {
        self.model = model
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable (QAnchorEmbedder) throws -> T) async throws -> T {
        let model = self.model
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body(model)) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
