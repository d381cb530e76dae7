import Foundation
@testable import QAnchorModel

/// Paths and goldens of the tiny test bundle (`testdata/models/tiny`) and its events and goldens, written by
/// `ops/model/make_test_bundle.py` with the PyTorch reference `ops/model/qanchor_reference.py`.
enum BundleTestData {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tinyBundle = root.appendingPathComponent("testdata/models/tiny")
    static let goldens = root.appendingPathComponent("testdata/goldens/tiny")
    static let events = root.appendingPathComponent("testdata/events")

    struct MissingGolden: Error, CustomStringConvertible {
        let description: String
    }

    /// A JSON golden file as a Foundation object.
    static func json(_ url: URL) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }

    static func object(_ url: URL) throws -> [String: Any] {
        guard let object = try json(url) as? [String: Any] else { throw MissingGolden(description: "\(url.path): not an object") }
        return object
    }

    /// The tiny bundle's manifest as a mutable JSON object.
    static func manifestObject() throws -> [String: Any] {
        try object(tinyBundle.appendingPathComponent("qanchor.json"))
    }

    static func backboneTokenizer() throws -> Tokenizer {
        try Tokenizer(contentsOf: tinyBundle.appendingPathComponent("backbone/tokenizer.json"))
    }

    /// Copies the tiny bundle into a fresh temporary directory (removed by the caller).
    static func copyOfTinyBundle() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-bundle-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: tinyBundle, to: dir)
        return dir
    }
}
