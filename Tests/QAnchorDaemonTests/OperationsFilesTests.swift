import Foundation
import QAnchorTestSupport
import Testing
@testable import QAnchorDaemon

/// The Prometheus alerts and the Grafana dashboard in `ops/deploy` name only metrics the daemon exports.
@Suite struct OperationsFilesTests {
    /// Every metric family the daemon can export (each accessor touched once), as exposed at `/metrics`.
    static func exportedFamilies() -> Set<String> {
        let m = DaemonMetrics()
        m.events(modality: "bill", outcome: "stored").increment()
        m.deadLetters(reason: "too_old").increment()
        m.contentCache("hit").increment()
        m.textsEncoded.increment()
        m.latency("encode").record(.milliseconds(1))
        m.refreshedUsers("published").increment()
        m.published(scenario: "risk").increment()
        m.refreshRunning.set(Double(0))
        m.refreshProgress.set(Double(0))
        m.refreshLastCompleted.set(Double(0))
        m.dirtyUsers.set(Double(0))
        m.consumerLag(topic: "t", partition: 0).set(Double(0))
        m.storeMapUsed.set(Double(0))
        m.storeMapSize.set(Double(0))
        m.revokedRecordsSkipped.increment()
        m.unkeyedRecords.increment()
        m.ready.set(Double(0))
        m.changelogRecords(kind: "event").increment()
        m.changelogRestored(outcome: "applied").increment()
        m.restores(outcome: "done").increment()
        m.partitions(state: "active").set(Double(0))
        m.unownedPartitions.set(Double(0))
        m.liveMembers.set(Double(0))
        m.unchangedUsersSkipped.increment()
        m.routedRequests("local").increment()
        m.partitionerMismatches.increment()
        m.buildInfo().set(Double(1))
        m.modelInfo(bundle: "b", version: "1", fingerprint: "sha256:0", precision: "fp32").set(Double(1))
        m.offsetsOutOfRange(topic: "t", action: "fail").increment()
        m.queryRequests(endpoint: "user_query", status: 200).increment()
        m.queryDuration(endpoint: "user_query").record(.milliseconds(1))
        m.queryQueueing(endpoint: "user_query").record(.milliseconds(1))
        m.queryTokens(endpoint: "embeddings").increment()
        m.prefixCache("hit").increment()
        m.prefixCacheWrites("query").increment()
        m.refreshPrefix("cached").increment()
        m.queriesInFlight.set(Double(0))
        let text = String(decoding: m.exposition(), as: UTF8.self)
        var names: Set<String> = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            names.insert(String(line.split(separator: " ")[2]))
        }
        return names
    }

    /// `qanchor_…` names in a file; histogram series (`_bucket`, `_sum`, `_count`) map to their family.
    static func referencedFamilies(_ relativePath: String) throws -> Set<String> {
        let text = try String(contentsOf: TestBroker.repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
        let regex = try NSRegularExpression(pattern: "qanchor_[a-z_]+")
        let names = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
            String(text[Range($0.range, in: text)!])
        }
        return Set(names.map { name in
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
            return name
        })
    }

    @Test(arguments: ["ops/deploy/prometheus-alerts.yaml", "ops/deploy/grafana-dashboard.json"])
    func namesOnlyExportedMetrics(_ file: String) throws {
        let exported = Self.exportedFamilies()
        let referenced = try Self.referencedFamilies(file)
        #expect(!referenced.isEmpty)
        #expect(referenced.subtracting(exported).isEmpty, "\(file) uses unknown metrics: \(referenced.subtracting(exported).sorted())")
    }

    @Test func theDashboardIsValidJSONWithPanels() throws {
        let data = try Data(contentsOf: TestBroker.repositoryRoot.appendingPathComponent("ops/deploy/grafana-dashboard.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(object["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids are unique")
    }

    /// The systemd unit passes `systemd-analyze verify` (with the built binary in place of /usr/local/bin/qanchor) and
    /// its hardening scores at most 2.5 in `systemd-analyze security`.
    @Test func theSystemdUnitVerifiesAndIsHardened() throws {
        let analyze = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyze) else {
            Issue.record("systemd-analyze is missing: ops/setup installs systemd")
            return
        }
        let unit = try String(contentsOf: TestBroker.repositoryRoot.appendingPathComponent("ops/deploy/qanchor.service"), encoding: .utf8)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("qanchor.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/qanchor", with: try QAnchorExecutable.url().path)
            .write(to: file, atomically: true, encoding: .utf8)
        let (verified, verifyOutput) = try Subprocess.run(analyze, ["verify", file.path])
        #expect(verified == 0, "\(verifyOutput)")
        let (_, security) = try Subprocess.run(analyze, ["security", "--offline=true", file.path])
        let line = try #require(security.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(security)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
        #expect(score <= 2.5, "\(line)")
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec="))
    }

    /// The Kubernetes manifests validate against the 1.30 schemas, strictly (kubernetes-validate, installed by
    /// ops/setup), and carry what a production deployment needs.
    @Test func theKubernetesManifestsValidate() throws {
        let tool = "/opt/qanchor/venv/bin/kubernetes-validate"
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            Issue.record("kubernetes-validate is missing: run ops/setup")
            return
        }
        let path = TestBroker.repositoryRoot.appendingPathComponent("ops/deploy/statefulset.yaml").path
        let (status, output) = try Subprocess.run(tool, ["--strict", "-k", "1.30.0", path], showErrors: true)
        #expect(status == 0, "\(output)")
        let manifest = try String(contentsOfFile: path, encoding: .utf8)
        for needed in ["kind: PodDisruptionBudget", "startupProbe:", "podAntiAffinity:", "clusterIP: None", "readOnlyRootFilesystem: true"] {
            #expect(manifest.contains(needed), "\(needed) missing")
        }
    }

    /// `promtool check rules` accepts the alerts and `promtool test rules` passes their unit tests
    /// (ops/deploy/prometheus-alerts.test.yaml: each alert fires on its case, none on a healthy series).
    @Test func theAlertsPassTheirPromtoolTests() throws {
        let promtool = "/opt/qanchor/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            Issue.record("promtool is missing: run ops/setup")
            return
        }
        let deploy = TestBroker.repositoryRoot.appendingPathComponent("ops/deploy")
        let (checked, checkOutput) = try Subprocess.run(promtool, ["check", "rules", deploy.appendingPathComponent("prometheus-alerts.yaml").path],
                                                        showErrors: true)
        #expect(checked == 0, "\(checkOutput)")
        let (tested, testOutput) = try Subprocess.run(promtool, ["test", "rules", deploy.appendingPathComponent("prometheus-alerts.test.yaml").path],
                                                      showErrors: true)
        #expect(tested == 0, "\(testOutput)")
        // Every alert has a case.
        let alerts = try String(contentsOf: deploy.appendingPathComponent("prometheus-alerts.yaml"), encoding: .utf8)
        let tests = try String(contentsOf: deploy.appendingPathComponent("prometheus-alerts.test.yaml"), encoding: .utf8)
        for line in alerts.split(separator: "\n") where line.contains("- alert: ") {
            let name = line.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)
            #expect(tests.contains("alertname: \(name)"), "\(name) has no promtool test")
        }
    }
}
