import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor embed` and `qanchor embed-text` run as a user runs them, against the goldens of the PyTorch reference.
@Suite("qanchor embed on the tiny bundle")
struct EmbedCommandTests {
    static let root = TestBroker.repositoryRoot
    static let bundle = root.appendingPathComponent("testdata/models/tiny").path
    static let now = "2026-11-28T00:00:00Z"

    static func lines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    static func floats(_ any: Any?) -> [Double] { (any as? [NSNumber] ?? []).map(\.doubleValue) }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).map(*).reduce(0, +)
        return dot / max((a.map { $0 * $0 }.reduce(0, +) * b.map { $0 * $0 }.reduce(0, +)).squareRoot(), 1e-30)
    }

    @Test(arguments: ["users", "bad-lines"])
    func reproducesTheGoldens(_ name: String) throws {
        let events = Self.root.appendingPathComponent("testdata/events/\(name).jsonl").path
        let (status, output, errors) = try QAnchorExecutable.run(["embed", "--bundle", Self.bundle, "--events", events, "--now", Self.now])
        let golden = try String(contentsOf: Self.root.appendingPathComponent("testdata/goldens/tiny/embed-\(name).jsonl"), encoding: .utf8)
        let expected = Self.lines(golden), got = Self.lines(output)
        #expect(got.count == expected.count)
        for (g, e) in zip(got, expected) {
            #expect(g["user_id"] as? String == e["user_id"] as? String)
            #expect(g["scenario"] as? String == e["scenario"] as? String)
            for key in ["dim", "version", "event_time", "window_start"] {
                #expect((g[key] as? NSNumber) == (e[key] as? NSNumber), "\(key)")
            }
            #expect((g["model"] as? [String: String]) == (e["model"] as? [String: String]))
            let a = Self.floats(g["embedding"]), b = Self.floats(e["embedding"])
            #expect(Self.cosine(a, b) >= 0.99999)
            #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 1 <= 1e-4)
            let gs = g["scores"] as? [String: NSNumber] ?? [:], es = e["scores"] as? [String: NSNumber] ?? [:]
            #expect(Set(gs.keys) == Set(es.keys))
            for (label, value) in es { #expect(abs((gs[label]?.doubleValue ?? -1) - value.doubleValue) <= 1e-4) }
            #expect(g["computed_at"] is NSNumber)
        }
        // Bad lines: reported on stderr with their numbers, and the exit code says so.
        let events_ = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("testdata/goldens/tiny/events.json"))) as! [String: Any]
        let summary = (events_["files"] as! [String: Any])["\(name).jsonl"] as! [String: Any]
        let badLines = (summary["bad_lines"] as! [[String: Any]]).map { $0["line"] as! Int }
        #expect(status == Int32(summary["exit_code"] as! Int))
        let reported = errors.split(separator: "\n").compactMap { line -> Int? in
            let parts = line.split(separator: ":")
            return parts.count >= 2 ? Int(parts[1]) : nil
        }
        #expect(reported == badLines)
    }

    /// `padding_visible: false` (padding slots masked out of attention, positions kept) against the reference's
    /// 2-D attention mask (`ops/model/make_padding_goldens.py`), and different from the visible-padding goldens.
    @Test func hiddenPaddingMatchesTheReference() throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-tiny-hidden-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.bundle), to: copy)
        let manifestURL = copy.appendingPathComponent("qanchor.json")
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        manifest["padding_visible"] = false
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys]).write(to: manifestURL)
        let events = Self.root.appendingPathComponent("testdata/events/users.jsonl").path
        let (status, output, errors) = try QAnchorExecutable.run(["embed", "--bundle", copy.path, "--events", events, "--now", Self.now])
        #expect(status == 0, "\(errors)")
        let goldens = Self.root.appendingPathComponent("testdata/goldens/tiny")
        let expected = Self.lines(try String(contentsOf: goldens.appendingPathComponent("embed-users-padding-hidden.jsonl"), encoding: .utf8))
        let visible = Self.lines(try String(contentsOf: goldens.appendingPathComponent("embed-users.jsonl"), encoding: .utf8))
        let got = Self.lines(output)
        #expect(got.count == expected.count && !got.isEmpty)
        for (g, e) in zip(got, expected) {
            #expect(g["user_id"] as? String == e["user_id"] as? String && g["scenario"] as? String == e["scenario"] as? String)
            let a = Self.floats(g["embedding"]), b = Self.floats(e["embedding"])
            #expect(Self.cosine(a, b) >= 0.99999)
            #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 1 <= 1e-4, "\(g["user_id"] ?? "")/\(g["scenario"] ?? "")")
        }
        let changed = zip(got, visible).filter { g, v in
            zip(Self.floats(g["embedding"]), Self.floats(v["embedding"])).map { abs($0 - $1) }.max() ?? 0 > 1e-3
        }
        #expect(changed.count == got.count, "hiding padding changes every user of users.jsonl (all have padding)")
    }

    /// The converter's end to end: the authors'-structure checkpoint converted by ops/model/convert_checkpoint.py,
    /// then `qanchor embed`, equals the PyTorch reference on the converted bundle (which ops/model/test_convert.py
    /// checks against the unconverted model).
    @Test func convertedCheckpointEmbedsLikeTheReference() throws {
        let dir = Self.root.appendingPathComponent("testdata/converted")
        let (status, output, errors) = try QAnchorExecutable.run([
            "embed", "--bundle", dir.appendingPathComponent("bundle").path,
            "--events", dir.appendingPathComponent("events.jsonl").path, "--now", Self.now, "--skew-seconds", "0"])
        #expect(status == 0, "\(errors)")
        let expected = Self.lines(try String(contentsOf: dir.appendingPathComponent("expected.jsonl"), encoding: .utf8))
        let got = Self.lines(output)
        #expect(got.count == expected.count && !got.isEmpty)
        for (g, e) in zip(got, expected) {
            #expect(g["user_id"] as? String == e["user_id"] as? String)
            #expect(g["scenario"] as? String == e["scenario"] as? String)
            #expect((g["model"] as? [String: String]) == (e["model"] as? [String: String]))
            let a = Self.floats(g["embedding"]), b = Self.floats(e["embedding"])
            #expect(Self.cosine(a, b) >= 0.99999)
            #expect(zip(a, b).map { abs($0 - $1) }.max() ?? 1 <= 1e-4)
        }
    }

    @Test func unknownScenarioAndMissingBundleFailClearly() throws {
        let events = Self.root.appendingPathComponent("testdata/events/users.jsonl").path
        let a = try QAnchorExecutable.run(["embed", "--bundle", Self.bundle, "--events", events, "--scenario", "nope"])
        #expect(a.status != 0)
        #expect(a.errors.contains("nope"))
        let b = try QAnchorExecutable.run(["embed", "--bundle", "/nonexistent/bundle", "--events", events])
        #expect(b.status != 0)
        #expect(b.errors.contains("/nonexistent/bundle"))
    }

    @Test func textTowerMatchesTheReference() throws {
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("testdata/goldens/tiny/text_tower.json"))) as! [[String: Any]]
        let texts = cases.map { $0["text"] as! String }
        let (status, output, _) = try QAnchorExecutable.run(["embed-text", "--bundle", Self.bundle] + texts)
        #expect(status == 0)
        let got = Self.lines(output)
        #expect(got.count == cases.count)
        for (g, c) in zip(got, cases) {
            #expect(g["text"] as? String == c["text"] as? String)
            #expect(Self.cosine(Self.floats(g["embedding"]), Self.floats(c["embedding"])) >= 0.99999)
        }
    }
}
