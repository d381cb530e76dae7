import Dispatch

/// Runs blocking librdkafka calls (commit, flush, metadata, admin requests, close) on a GCD thread so they never
/// occupy a thread of Swift's cooperative pool.
enum RDKafkaBlocking {
    private static let queue = DispatchQueue(label: "qanchor.kafka.blocking", attributes: .concurrent)

    static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
