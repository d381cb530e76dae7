import Foundation
@testable import QAnchorStore

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let url: URL

    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("qanchor-store-tests-\(safe)-\(UUID().uuidString.prefix(8))")
    }

    func child(_ name: String) -> URL { url.appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

enum Fixture {
    static let day: Int64 = 86_400_000
    static let now: Int64 = 1_764_288_000_000
    static let dimension = 4

    /// bill (text, K=3), app (text, K=2), tabular (F=3); a 10-day window.
    static func configuration(_ directory: URL, encoding: VectorEncoding = .float32) -> StoreConfiguration {
        var c = StoreConfiguration(directory: directory, modalities: [
            ModalitySchema(name: "bill", kind: .text, cap: 3, dimension: dimension),
            ModalitySchema(name: "app", kind: .text, cap: 2, dimension: dimension),
            ModalitySchema(name: "tabular", kind: .tabular, cap: 1, dimension: 3),
        ])
        c.windowMilliseconds = 10 * day
        c.vectorEncoding = encoding
        c.environment.initialMapSize = 1 << 22
        return c
    }

    static func open(_ directory: URL, encoding: VectorEncoding = .float32) throws -> EventStore {
        try EventStore(configuration: configuration(directory, encoding: encoding))
    }

    static func user(_ id: String, _ partition: Int32 = 0) -> UserKey { UserKey(partition: partition, userID: id) }

    static func vector(_ seed: Int) -> [Float] { (0..<dimension).map { Float(seed * 10 + $0) } }

    static func text(_ user: UserKey, _ modality: Int, _ id: String, at ts: Int64, seed: Int = 1) -> IngestEvent {
        IngestEvent(user: user, modality: modality, eventID: id, timestampMs: ts,
                    content: .text(vector: vector(seed), textHash: Array("hash-\(id)".utf8)))
    }

    static func tabular(_ user: UserKey, _ id: String, at ts: Int64, _ features: [Float]) -> IngestEvent {
        IngestEvent(user: user, modality: 2, eventID: id, timestampMs: ts, content: .tabular(features: features))
    }

    static func eventIDs(_ state: UserState?, _ modality: Int) -> [String] {
        state?.modalities[modality].events.map(\.eventID) ?? []
    }
}
