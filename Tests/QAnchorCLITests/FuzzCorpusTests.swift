import Foundation
import QAnchorTestSupport
import Testing

/// The fuzz targets' committed inputs (docs/reliability.md): every seed and every crasher a fuzzer ever found goes
/// through its target on each test run, so a fixed crash stays fixed; and the seeds made by the real encoders are
/// current (a format change that forgot `ops/fuzz seeds` fails here).
@Suite("fuzz corpora")
struct FuzzCorpusTests {
    static let targets = ["events", "manifest", "safetensors", "tokenizer", "decoder-state", "journal", "records"]
    static let fuzzData = TestBroker.repositoryRoot.appendingPathComponent("testdata/fuzz")

    @Test(arguments: targets)
    func seedsAndCrashersReplayWithoutAFinding(target: String) throws {
        var folders = [Self.fuzzData.appendingPathComponent("seeds/\(target)")]
        let crashers = Self.fuzzData.appendingPathComponent("crashers/\(target)")
        if FileManager.default.fileExists(atPath: crashers.path) { folders.append(crashers) }
        let count = try folders.map { try FileManager.default.contentsOfDirectory(atPath: $0.path).filter { !$0.hasPrefix(".") }.count }
            .reduce(0, +)
        #expect(count > 0)
        let (status, output) = try Subprocess.run(try QAnchorExecutable.url(named: "qanchor-fuzz").path,
                                                  [target] + folders.map(\.path), environment: Self.environment)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(target): \(count) inputs replayed"), "\(output)")
    }

    @Test func seedsMatchTheCurrentEncoders() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-seeds-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try Subprocess.run(try QAnchorExecutable.url(named: "qanchor-fuzz").path,
                                                  ["--write-seeds", directory.path], environment: Self.environment)
        #expect(status == 0, "\(output)")
        for target in Self.targets {
            let committed = Self.fuzzData.appendingPathComponent("seeds/\(target)")
            let made = directory.appendingPathComponent(target)
            let names = try FileManager.default.contentsOfDirectory(atPath: made.path).sorted()
            #expect(try FileManager.default.contentsOfDirectory(atPath: committed.path).sorted() == names, "\(target)")
            for name in names {
                #expect(try Data(contentsOf: made.appendingPathComponent(name)) == Data(contentsOf: committed.appendingPathComponent(name)),
                        "testdata/fuzz/seeds/\(target)/\(name) is stale: run ops/fuzz seeds")
            }
        }
    }

    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["QANCHOR_FUZZ_TESTDATA"] = TestBroker.repositoryRoot.appendingPathComponent("testdata").path
        return environment
    }
}
