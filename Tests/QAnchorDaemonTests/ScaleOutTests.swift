import Foundation
import QAnchorDaemon
import QAnchorTestSupport
import Testing

/// Several `qanchor serve` instances in one consumer group on the real broker, while events are produced: members
/// join, one is killed with SIGKILL and restarted on its store, one joins with an empty store after production
/// stopped, one stops gracefully. An independent verifier (`ops/dev/verify_scaleout.py`, confluent-kafka + HTTP)
/// then checks what a feature store would see: versions strictly increase per user across owners, no (user,
/// version) with two contents, every final record equals `qanchor embed` over all of the user's events, and a
/// lookup on any instance returns the owner's current record. Metrics show that moved partitions are restored
/// from the changelog without encoding a text.
@Suite("scale-out: instances joining, dying and leaving one group", .serialized)
struct ScaleOutTests {
    static let partitions = 6
    static let users = 60
    static let scaling = """
    scaling:
      heartbeat_ms: 500

    """

    /// One wave of events: every user gets a few events of random modalities; texts come from small pools (so the
    /// content cache and the changelog's vectors matter), event ids are unique per wave.
    static func wave(_ n: Int, into events: inout EventFile, usersStep: Int = 1) {
        var rng = SplitMix(seed: UInt64(n))
        let pools = ["bill": 14, "app": 9, "mini": 8, "search": 12, "spm": 6]
        for u in stride(from: 0, to: users, by: usersStep) {
            for i in 0..<3 {
                let modality = ["bill", "app", "mini", "search", "spm", "tabular"][Int(rng.next() % 6)]
                let daysAgo = Double(rng.next() % 80) + Double(rng.next() % 1000) / 1000
                if modality == "tabular" {
                    events.tabular("w\(n)-t\(u)-\(i)", user: "user-\(u)", daysAgo: daysAgo,
                                   (0..<7).map { _ in Double(Int(rng.next() % 200) - 100) / 50 })
                } else {
                    let text = "\(modality) text \(rng.next() % UInt64(pools[modality]!))"
                    events.text(modality, "w\(n)-\(modality.prefix(1))\(u)-\(i)", user: "user-\(u)", daysAgo: daysAgo, text)
                }
            }
        }
    }

    @Test func membersJoinDieRestartAndLeaveWhileProducing() async throws {
        let a = try DaemonHarness(name: "scale", refreshIntervalSeconds: 2, extraYAML: Self.scaling)
        let b = try DaemonHarness(joining: a, instance: "b", refreshIntervalSeconds: 2, extraYAML: Self.scaling)
        let c = try DaemonHarness(joining: a, instance: "c", refreshIntervalSeconds: 2, extraYAML: Self.scaling)
        let d = try DaemonHarness(joining: a, instance: "d", refreshIntervalSeconds: 2, extraYAML: Self.scaling)
        try a.createTopics(partitions: Self.partitions)
        let waves = Waves(producer: a)
        func produceWave(_ n: Int) throws { try waves.produce(n) }

        try produceWave(1)
        try await a.start()
        try await waitUntilSettled([a])
        try await b.start()
        try produceWave(2)
        try await c.start()
        try produceWave(3)
        try await waitUntilSettled([a, b, c])
        // Incremental: the first member only gave partitions away; the ones it kept were never revoked, so it restored
        // (started) each of the six exactly once.
        #expect((try await a.metrics())["qanchor_partition_restores_total{outcome=\"done\"}"] == Double(Self.partitions))

        // SIGKILL one member while producing; the others take its partitions over (after the session timeout).
        b.kill()
        try produceWave(4)
        try await waitUntilSettled([a, c])
        // It comes back on its own store: a catch-up from the changelog, not a rebuild.
        try await b.start()
        try produceWave(5)
        try await waitUntilSettled([a, b, c])

        // A new member with an empty store, after the last event: whatever it is given comes from the changelog.
        try await d.start()
        try await waitUntilSettled([a, b, c, d])
        let dMetrics = try await d.metrics()
        let dActive = dMetrics["qanchor_partitions{state=\"active\"}"] ?? 0
        #expect(dActive >= 1, "the new member owns partitions")
        #expect((dMetrics["qanchor_changelog_records_restored_total{outcome=\"applied\"}"] ?? 0) > 0,
                "its partitions were restored from the changelog")
        #expect((dMetrics["qanchor_texts_encoded_total"] ?? 0) == 0, "restoring encodes no text")

        // A graceful stop: its partitions move to the others.
        #expect(await c.stop() == 0)
        try await waitUntilSettled([a, b, d])

        // Everything ingested everywhere: one more refresh on each member, then the verifier.
        for member in [a, b, d] {
            let summary = try await member.refresh()
            #expect(summary["failed"] == 0)
            // The producers place users with murmur2, as `kafka.partitioner` says: lookups route right.
            #expect((try await member.metrics())["qanchor_partitioner_mismatch_total"] ?? 0 == 0)
        }
        // Ad-hoc queries are owner-routed like lookups: a non-owner answers 307 to the owner, which answers 200.
        var redirects = 0
        for u in 0..<6 {
            for member in [a, b, d] {
                let response = try await member.send("POST", "/v1/users/user-\(u)/query", json: "{\"query\":\"Will this user travel?\"}")
                if response.status == 307, let location = response.headers["location"], let url = URL(string: location) {
                    redirects += 1
                    let owner = try LoopbackHTTPClient.send("POST", url, body: Array("{\"query\":\"Will this user travel?\"}".utf8))
                    #expect(owner.status == 200, "the owner answers user-\(u): \(owner.body)")
                } else {
                    #expect(response.status == 200, "user-\(u): \(response.status) \(response.body)")
                }
            }
        }
        #expect(redirects >= 6, "each user has two non-owners among three members")
        let combined = a.directory.appendingPathComponent("all.jsonl")
        try waves.all.write(to: combined)
        let reference = try QAnchorExecutable.run(["embed", "--bundle", DaemonHarness.bundle, "--events", combined.path,
                                                   "--now", String(Int64(Date().timeIntervalSince1970 * 1000))])
        #expect(reference.status == 0, "qanchor embed: \(reference.errors)")
        let referenceFile = a.directory.appendingPathComponent("reference.jsonl")
        try reference.output.write(to: referenceFile, atomically: true, encoding: .utf8)
        var arguments = [TestBroker.repositoryRoot.appendingPathComponent("ops/dev/verify_scaleout.py").path,
                         "--bootstrap", a.bootstrap, "--topic-template", "\(a.prefix).embeddings.{scenario}",
                         "--scenarios", DaemonHarness.scenarios.joined(separator: ","), "--reference", referenceFile.path]
        for member in [a, b, d] { arguments += ["--instance", "http://127.0.0.1:\(member.port ?? 0)"] }
        let (status, output) = try Subprocess.run("/opt/qanchor/venv/bin/python", arguments, showErrors: true)
        #expect(status == 0, "verifier:\n\(output)")
        FileHandle.standardError.write(Data("scale-out verifier: \(output)\n".utf8))
        for member in [a, b, d] {
            let ready = member.process?.log.split(separator: "\n").filter { $0.contains("partition ready") } ?? []
            FileHandle.standardError.write(Data("\(member.directory.lastPathComponent):\n\(ready.joined(separator: "\n"))\n".utf8))
        }
        let summary = (try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]) ?? [:]
        #expect((summary["lookups_redirected"] as? Int ?? 0) > 0, "lookups on non-owners were redirected: \(output)")
        for member in [a, b, c, d] {
            #expect(!(member.process?.log.contains("changelog position beyond the log") ?? true), "no local state was dropped")
        }
        for member in [a, b, d] { #expect(await member.stop() == 0) }
    }

    /// Standby replicas: each member follows the changelog of the other's partitions, so when one is killed the other
    /// takes its partitions over with a catch-up of at most a few records, not a restore.
    @Test func aStandbyTakesOverWithACatchUpOnly() async throws {
        let scaling = "scaling:\n  heartbeat_ms: 500\n  standby_replicas: 1\n"
        let a = try DaemonHarness(name: "standby", refreshIntervalSeconds: 2, extraYAML: scaling)
        let b = try DaemonHarness(joining: a, instance: "b", refreshIntervalSeconds: 2, extraYAML: scaling)
        try a.createTopics(partitions: Self.partitions)
        let waves = Waves(producer: a)
        func produceWave(_ n: Int) throws { try waves.produce(n) }
        try produceWave(1)
        try await a.start()
        try await b.start()
        try await waitUntilSettled([a, b])
        try produceWave(2)
        try await waitUntilSettled([a, b])
        // Each follows what the other owns, and has applied it.
        let deadline = ContinuousClock.now + .seconds(60)
        var aActive = 0.0
        while true {
            let ma = try await a.metrics(), mb = try await b.metrics()
            aActive = ma["qanchor_partitions{state=\"active\"}"] ?? 0
            let following = ma["qanchor_partitions{state=\"standby\"}"] == mb["qanchor_partitions{state=\"active\"}"]
                && mb["qanchor_partitions{state=\"standby\"}"] == aActive
            let applied = (mb["qanchor_changelog_records_restored_total{outcome=\"applied\"}"] ?? 0) > 0
            if following && applied && aActive > 0 { break }
            guard ContinuousClock.now < deadline else {
                Issue.record("standbys not in place: a \(ma.filter { $0.key.hasPrefix("qanchor_partitions") }), b \(mb.filter { $0.key.hasPrefix("qanchor_partitions") })")
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        try await Task.sleep(for: .seconds(2))  // the followers apply what the last refreshes wrote

        let readyBefore = b.process?.log.components(separatedBy: "partition ready").count ?? 0
        a.kill()
        try await waitUntilSettled([b])
        let takeovers = (b.process?.log.components(separatedBy: "\n") ?? []).filter { $0.contains("partition ready") }
            .suffix((b.process?.log.components(separatedBy: "partition ready").count ?? 0) - readyBefore)
        #expect(Double(takeovers.count) == aActive, "b took over a's partitions: \(takeovers)")
        for line in takeovers {
            let records = line.range(of: #"changelog_records=(\d+)"#, options: .regularExpression)
                .flatMap { Int(line[$0].split(separator: "=")[1]) } ?? -1
            #expect((0...20).contains(records), "a takeover by a standby reads only the tail of the changelog: \(line)")
        }
        let summary = try await b.refresh()
        #expect(summary["failed"] == 0)
        let combined = a.directory.appendingPathComponent("all.jsonl")
        try waves.all.write(to: combined)
        let reference = try QAnchorExecutable.run(["embed", "--bundle", DaemonHarness.bundle, "--events", combined.path,
                                                   "--now", String(Int64(Date().timeIntervalSince1970 * 1000))])
        let referenceFile = a.directory.appendingPathComponent("reference.jsonl")
        try reference.output.write(to: referenceFile, atomically: true, encoding: .utf8)
        let (status, output) = try Subprocess.run("/opt/qanchor/venv/bin/python", [
            TestBroker.repositoryRoot.appendingPathComponent("ops/dev/verify_scaleout.py").path,
            "--bootstrap", a.bootstrap, "--topic-template", "\(a.prefix).embeddings.{scenario}",
            "--scenarios", DaemonHarness.scenarios.joined(separator: ","), "--reference", referenceFile.path,
            "--instance", "http://127.0.0.1:\(b.port ?? 0)"], showErrors: true)
        #expect(status == 0, "verifier:\n\(output)")
        #expect(await b.stop() == 0)
    }

    /// Static members: one that dies keeps its partitions in the group (until its long session times out), which the
    /// member directory notices; one that leaves with `qanchor leave` hands them over at once.
    @Test func staticMembersDeadAreNoticedAndLeavingHandsPartitionsOver() async throws {
        // range: on Tansu 0.6 a static member never gets partitions freed by a cooperative rebalance.
        let a = try DaemonHarness(name: "static", staticInstance: "qa-0", sessionTimeoutMs: 20_000, assignmentStrategy: "range",
                                  extraYAML: "scaling:\n  heartbeat_ms: 500\n")
        let b = try DaemonHarness(joining: a, instance: "b", staticInstance: "qa-1", sessionTimeoutMs: 20_000,
                                  assignmentStrategy: "range", extraYAML: "scaling:\n  heartbeat_ms: 500\n")
        try a.createTopics(partitions: 4)
        var events = EventFile()
        Self.wave(1, into: &events)
        let file = a.directory.appendingPathComponent("wave.jsonl")
        try events.write(to: file)
        try a.produce(file)
        try await a.start()
        try await b.start()
        try await waitUntilSettled([a, b], partitions: 4)

        // Dies without leaving: its partitions stay assigned to it in the group (Tansu never expires a static member's
        // session); a stays ready but sees them unowned.
        b.kill()
        let deadline = ContinuousClock.now + .seconds(20)
        var unowned = 0.0
        while ContinuousClock.now < deadline {
            unowned = (try await a.metrics())["qanchor_group_unowned_partitions"] ?? 0
            if unowned > 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let bActiveBefore = 4 - ((try await a.metrics())["qanchor_partitions{state=\"active\"}"] ?? 0)
        #expect(unowned == bActiveBefore && unowned > 0, "the dead static member's partitions are reported unowned")
        #expect(try await a.http("GET", "/readyz").status == 200, "the survivor itself is ready")

        // Back under its name (within the session): it gets its partitions again. Then it leaves for good.
        try await b.start()
        try await waitUntilSettled([a, b], partitions: 4)
        let left = ContinuousClock.now
        let (status, _) = try await b.http("POST", "/admin/leave")
        #expect(status == 202)
        #expect(await b.stop() == 0)
        try await waitUntilSettled([a], partitions: 4, timeout: .seconds(60))
        let seconds = (ContinuousClock.now - left).components.seconds
        #expect(seconds < 30, "partitions moved in \(seconds) s")
        #expect(await a.stop() == 0)
    }

    /// Waits until every member is ready (restored and caught up), the members own all partitions between them,
    /// and each one's member directory sees no unowned partition.
    func waitUntilSettled(_ members: [DaemonHarness], partitions: Int = ScaleOutTests.partitions,
                          timeout: Duration = .seconds(150)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            var active = 0.0, unowned = 0.0, ready = true
            for member in members {
                let (status, body) = (try? await member.http("GET", "/readyz")) ?? (0, "no answer")
                if status != 200 { ready = false; last = "\(member.directory.lastPathComponent): \(body)" }
                let metrics = (try? await member.metrics()) ?? [:]
                active += metrics["qanchor_partitions{state=\"active\"}"] ?? 0
                unowned += metrics["qanchor_group_unowned_partitions"] ?? 1
            }
            if ready, active == Double(partitions), unowned == 0 { return }
            if ready { last = "active \(active), unowned \(unowned)" }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw Subprocess.Failure(description: "members did not settle: \(last)\n"
                                 + members.map { "--- \($0.directory.lastPathComponent)\n\($0.process?.log.suffix(2500) ?? "")" }.joined())
    }
}

/// Produces waves of events through one member's harness and remembers every event (for the reference).
final class Waves {
    let producer: DaemonHarness
    private(set) var all = EventFile()

    init(producer: DaemonHarness) { self.producer = producer }

    func produce(_ n: Int) throws {
        var events = EventFile()
        ScaleOutTests.wave(n, into: &events)
        all.lines += events.lines
        let file = producer.directory.appendingPathComponent("wave-\(n).jsonl")
        try events.write(to: file)
        try producer.produce(file)
    }
}

/// A small deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
