import Foundation
import Testing
@testable import QAnchorModel

/// Locations and comparison helpers shared by the golden tests.
enum EngineGolden {
    /// The repository root, found from this file's path (Tests/QAnchorModelTests/EngineGoldenSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let directory = root.appendingPathComponent("testdata/engine")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Rows of a 2-D golden tensor.
    static func rows(_ file: SafeTensorsFile, _ name: String) throws -> [[Float]] {
        let t = try file.tensor(name)
        let c = t.columns
        return (0..<t.rows).map { r in Array(UnsafeBufferPointer(start: t.data + r * c, count: c)) }
    }
}

/// Cosine similarity and max-abs difference of two vectors.
func compareVectors(_ a: [Float], _ b: [Float]) -> (cosine: Double, maxAbs: Double) {
    precondition(a.count == b.count)
    var dot = 0.0, na = 0.0, nb = 0.0, mx = 0.0
    for i in 0..<a.count {
        let x = Double(a[i]), y = Double(b[i])
        dot += x * y; na += x * x; nb += y * y; mx = max(mx, abs(x - y))
    }
    return (dot / max((na * nb).squareRoot(), 1e-30), mx)
}

/// Expects each vector to match its reference within the numerical contract (cosine ≥ 0.99999, max-abs ≤ 1e-4 for
/// fp32; the bf16 tests pass their own, documented bounds).
func expectVectorsClose(_ got: [[Float]], _ want: [[Float]], _ what: String,
                        cosine minimumCosine: Double = 0.99999, maxAbs maximumAbs: Double = 1e-4,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) vectors, expected \(want.count)", sourceLocation: sourceLocation)
    for (i, (g, w)) in zip(got, want).enumerated() {
        guard g.count == w.count else {
            Issue.record("\(what)[\(i)]: width \(g.count), expected \(w.count)", sourceLocation: sourceLocation)
            continue
        }
        let (cosine, maxAbs) = compareVectors(g, w)
        #expect(cosine >= minimumCosine && maxAbs <= maximumAbs,
                "\(what)[\(i)]: cosine \(cosine), max-abs \(maxAbs)", sourceLocation: sourceLocation)
    }
}

/// The worst cosine and largest max-abs difference over paired vectors (the bf16 tests' summary).
func worstDifference(_ got: [[Float]], _ want: [[Float]]) -> (cosine: Double, maxAbs: Double) {
    precondition(got.count == want.count)
    var cosine = 1.0, maxAbs = 0.0
    for (g, w) in zip(got, want) {
        let (c, m) = compareVectors(g, w)
        cosine = min(cosine, c); maxAbs = max(maxAbs, m)
    }
    return (cosine, maxAbs)
}
