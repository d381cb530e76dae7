import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor serve` killed with SIGKILL during ingest and during a refresh, then restarted: no event lost or
/// applied twice, and every user ends up published.
@Suite("qanchor serve crash and restart", .serialized)
struct DaemonRestartTests {
    static func storeStatistics(_ harness: DaemonHarness) throws -> [String: Any] {
        let result = try QAnchorExecutable.run(["inspect", "--store", harness.directory.appendingPathComponent("store").path, "--json"])
        #expect(result.status == 0, "inspect: \(result.errors)")
        return (try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]) ?? [:]
    }

    /// Per-request commits, and the journaled store (acknowledged batches may exist only in the journal when killed).
    @Test(arguments: ["per_request", "journaled"])
    func killedDuringIngestAndRefreshLosesNothingAndPublishesEveryone(commit: String) async throws {
        let harness = try DaemonHarness(name: "crash", storeCommit: commit)
        let users = 400
        var events = EventFile()
        for u in 0..<users {
            events.text("bill", "b\(u)", user: "user-\(u)", daysAgo: Double(1 + u % 50), "payment number \(u) at shop \(u % 37)")
            events.text("app", "a\(u)", user: "user-\(u)", daysAgo: Double(2 + u % 40), "app \(u % 53) opened \(u) times")
        }
        let file = harness.directory.appendingPathComponent("events.jsonl")
        try events.write(to: file)
        try harness.createTopics(partitions: 3)
        try harness.produce(file)

        // 1. Kill during ingest: as soon as the first batches are stored, before all are.
        try await harness.start()
        var stored = 0.0
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            stored = (try? await harness.metrics())?["qanchor_events_total{modality=\"all\",outcome=\"stored\"}"] ?? 0
            if stored > 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        harness.kill()
        #expect(stored > 0)

        // Restart: ingest resumes at the stored offsets; every event is stored exactly once.
        try await harness.start()
        try await harness.waitReady()
        // (Journaled: what was ingested after the restart is visible to other processes at the next checkpoint.)
        var byModality: [String: Int] = [:]
        let visible = ContinuousClock.now + .seconds(20)
        repeat {
            byModality = try Self.storeStatistics(harness)["eventsByModality"] as? [String: Int] ?? [:]
            if byModality["bill"] == users && byModality["app"] == users { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < visible
        #expect(byModality["bill"] == users, "bill events after the crash: \(byModality)")
        #expect(byModality["app"] == users, "app events after the crash: \(byModality)")
        let metrics = try await harness.metrics()
        #expect(metrics["qanchor_events_total{modality=\"all\",outcome=\"duplicate\"}"] ?? 0 == 0,
                "records re-read after the crash would show as duplicates")
        #expect(try harness.read(topic: harness.deadLetterTopic).isEmpty)

        // 2. Kill during a refresh: after some records were published, before the refresh finished.
        _ = try await harness.http("POST", "/admin/refresh")
        let refreshDeadline = ContinuousClock.now + .seconds(60)
        var published = 0.0
        while ContinuousClock.now < refreshDeadline {
            let m = (try? await harness.metrics()) ?? [:]
            published = m.filter { $0.key.hasPrefix("qanchor_records_published_total") }.values.reduce(0, +)
            if published > 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        harness.kill()
        #expect(published > 0)

        // Restart and refresh: every user ends up published in every scenario, and nobody stays dirty.
        try await harness.start()
        try await harness.waitReady()
        let summary = try await harness.refresh()
        #expect(summary["failed"] == 0)
        for scenario in DaemonHarness.scenarios {
            let records = try harness.read(topic: harness.outputTopic(scenario))
            #expect(Set(records.map(\.key)) == Set((0..<users).map { "user-\($0)" }), "\(scenario): every user published")
        }
        let after = try await harness.metrics()
        #expect(after["qanchor_dirty_users"] == 0)
        #expect(await harness.stop() == 0)
    }
}
