import Foundation
import QAnchorTestSupport
import Testing
@testable import QAnchorKafka

/// End-to-end tests against a real broker (Tansu, through the Kafka protocol), with kcat as an independent client.
@Suite("Kafka layer on a real broker", .serialized)
struct KafkaBrokerTests {
    static func client(_ bootstrap: String) -> KafkaClientConfiguration {
        KafkaClientConfiguration(bootstrapServers: [bootstrap])
    }

    static func consumer(_ bootstrap: String, group: String?, instance: String? = nil,
                         statistics: Duration? = nil) throws -> KafkaConsumer {
        var client = client(bootstrap)
        client.statisticsInterval = statistics
        return try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: client, groupID: group, groupInstanceID: instance, sessionTimeout: .seconds(6)))
    }

    static func createTopic(_ bootstrap: String, _ name: String, partitions: Int32) async throws {
        let admin = try KafkaAdminClient(configuration: client(bootstrap))
        try await admin.createTopics([KafkaTopicSpecification(name: name, partitions: partitions)])
        await admin.close()
    }

    static func produce(_ bootstrap: String, topic: String, range: Range<Int>) async throws -> [Int: KafkaDeliveryReport] {
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client(bootstrap)))
        var reports: [Int: KafkaDeliveryReport] = [:]
        try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
            for i in range {
                group.addTask {
                    let report = try await producer.send(KafkaProducerRecord(
                        topic: topic, key: "user-\(i % 13)", value: Array("event-\(i)".utf8),
                        headers: [KafkaHeader("seq", String(i))]))
                    return (i, report)
                }
            }
            for try await (i, report) in group { reports[i] = report }
        }
        try await producer.close()
        return reports
    }

    @Test func adminCreatesTopicsAndReadsMetadata() async throws {
        let bootstrap = try TestBroker.bootstrap
        let topic = uniqueName("admin")
        let admin = try KafkaAdminClient(configuration: Self.client(bootstrap))
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 5, configs: ["retention.ms": "86400000"])])
        try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 5)])  // existing: no error
        let metadata = try await admin.metadata(topics: [topic])
        #expect(metadata.topic(topic)?.partitions.map(\.id) == [0, 1, 2, 3, 4])
        #expect(!metadata.brokers.isEmpty)
        await #expect(throws: KafkaError.self) {
            try await admin.createTopics([KafkaTopicSpecification(name: topic, partitions: 5)], ignoreExisting: false)
        }
        await admin.close()
    }

    /// Keyed records with headers → a group of two consumers → one leaves (rebalance) → commits → a restarted
    /// member resumes exactly at the committed positions: nothing lost, nothing delivered twice past them.
    @Test func groupRebalanceCommitAndRestartResumesAtCommittedPositions() async throws {
        let bootstrap = try TestBroker.bootstrap
        let topic = uniqueName("group")
        let group = uniqueName("g")
        try await Self.createTopic(bootstrap, topic, partitions: 4)
        let first = try await Self.produce(bootstrap, topic: topic, range: 0..<200)

        let a = try Self.consumer(bootstrap, group: group)
        let b = try Self.consumer(bootstrap, group: group)
        let ra = EventRecorder(a), rb = EventRecorder(b)
        try a.subscribe([topic])
        try b.subscribe([topic])
        #expect(await ra.wait(timeout: .seconds(60)) { _ in ra.records.count + rb.records.count >= 200 })
        #expect(await ra.wait(timeout: .seconds(30)) { _ in
            ra.events.currentAssignment.count + rb.events.currentAssignment.count == 4
                && !ra.events.currentAssignment.isEmpty && !rb.events.currentAssignment.isEmpty })
        let seen = ra.records + rb.records
        #expect(seen.count == 200)
        #expect(Set(seen.map { String(decoding: $0.value!, as: UTF8.self) }) == Set((0..<200).map { "event-\($0)" }))
        for record in seen {
            let i = Int(record.headers.string("seq")!)!
            #expect(record.keyString == "user-\(i % 13)")
            #expect(first[i]?.topicPartition == record.topicPartition && first[i]?.offset == record.offset)
        }

        // B commits everything it read and leaves; A is assigned B's partitions (incrementally).
        let bPartitions = rb.events.currentAssignment
        let bEnd = Dictionary(rb.records.map { ($0.topicPartition, $0.offset + 1) }, uniquingKeysWith: max)
        try await b.commit(bEnd)
        await b.close()
        #expect(await ra.wait(timeout: .seconds(60)) { $0.currentAssignment.count == 4 })
        #expect(!ra.events.contains { if case .revoked = $0 { return true } else { return false } },
                "cooperative-sticky: A keeps its partitions while B's move")

        // New records: A reads them all, those on B's former partitions from B's committed offsets on.
        let before = ra.records.count
        _ = try await Self.produce(bootstrap, topic: topic, range: 200..<300)
        #expect(await ra.wait(timeout: .seconds(30)) { _ in ra.records.count >= before + 100 })
        let afterLeave = Array(ra.records[before...])
        #expect(afterLeave.count == 100)
        for tp in bPartitions {
            let offsets = afterLeave.filter { $0.topicPartition == tp }.map(\.offset)
            if let firstOffset = offsets.first { #expect(firstOffset == bEnd[tp] ?? 0) }
        }

        // A commits a position in the middle of each partition and closes.
        let all = ra.records + rb.records
        var ends: [KafkaTopicPartition: Int64] = [:]
        for r in all { ends[r.topicPartition] = max(ends[r.topicPartition] ?? 0, r.offset + 1) }
        let committed = ends.mapValues { $0 / 2 }
        try await a.commit(committed)
        #expect(try await a.committed(Array(committed.keys)).compactMapValues { $0 } == committed)
        await a.close()

        // Restart: a new member of the group resumes exactly at the committed positions.
        let c = try Self.consumer(bootstrap, group: group)
        let rc = EventRecorder(c)
        try c.subscribe([topic])
        let expected = ends.reduce(0) { $0 + Int($1.value - committed[$1.key]!) }
        #expect(await rc.wait(timeout: .seconds(60)) { $0.records.count >= expected })
        try await Task.sleep(for: .milliseconds(500))  // anything extra would be a duplicate
        for (tp, end) in ends {
            let offsets = rc.records.filter { $0.topicPartition == tp }.map(\.offset)
            #expect(offsets == Array(committed[tp]!..<end), "\(tp) resumed at \(offsets.first ?? -1), committed \(committed[tp]!)")
        }
        await c.close()
    }

    @Test func flushWithTheBrokerStoppedReportsFailureInsteadOfHanging() async throws {
        _ = try TestBroker.bootstrap  // runtime check
        let broker = try LocalBroker.onFreePort(label: "flush")
        try broker.start()
        defer { broker.stop() }
        let topic = uniqueName("flush")
        try await Self.createTopic(broker.bootstrap, topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(
            client: Self.client(broker.bootstrap), messageTimeout: .seconds(4)))
        try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("delivered".utf8)))
        broker.stop()
        let started = ContinuousClock.now
        let pending = Task { try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("stranded".utf8))) }
        while producer.queuedCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let flushError = await #expect(throws: KafkaError.self) { try await producer.flush(timeout: .seconds(1)) }
        #expect(flushError?.code == .timedOut)
        let sendError = await #expect(throws: KafkaError.self) { try await pending.value }
        #expect(sendError?.code == .messageTimedOut)
        #expect(ContinuousClock.now - started < .seconds(15))
        await #expect(throws: Never.self) { try await producer.close(timeout: .seconds(1)) }
    }

    @Test func interoperatesWithKcat() async throws {
        let bootstrap = try TestBroker.bootstrap
        let topic = uniqueName("kcat")
        try await Self.createTopic(bootstrap, topic, partitions: 2)
        // kcat produces keyed records with headers; we consume them.
        let lines = (0..<20).map { "user-\($0 % 3)\tpayload-\($0)" }.joined(separator: "\n") + "\n"
        try Kcat.run(["-b", bootstrap, "-P", "-t", topic, "-K", "\t", "-H", "source=kcat"], input: lines)
        let consumer = try Self.consumer(bootstrap, group: nil)
        try consumer.assign([KafkaTopicPartition(topic, 0): .beginning, KafkaTopicPartition(topic, 1): .beginning])
        let recorder = EventRecorder(consumer)
        #expect(await recorder.wait { $0.records.count >= 20 })
        #expect(Set(recorder.records.map { String(decoding: $0.value!, as: UTF8.self) }) == Set((0..<20).map { "payload-\($0)" }))
        #expect(recorder.records.allSatisfy { $0.headers.string("source") == "kcat" })
        for r in recorder.records {
            let i = Int(String(decoding: r.value!, as: UTF8.self).dropFirst("payload-".count))!
            #expect(r.keyString == "user-\(i % 3)")
        }
        await consumer.close()

        // We produce; kcat consumes and prints key, value and headers.
        let out = uniqueName("kcat-out")
        try await Self.createTopic(bootstrap, out, partitions: 1)
        _ = try await Self.produce(bootstrap, topic: out, range: 0..<5)
        let printed = try Kcat.run(["-b", bootstrap, "-C", "-t", out, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%h\n"])
        let rows = printed.split(separator: "\n").map(String.init).sorted()
        #expect(rows == (0..<5).map { "user-\($0 % 13)|event-\($0)|seq=\($0)" }.sorted())
    }

    @Test func watermarksOffsetsForTimesAndLagStatistics() async throws {
        let bootstrap = try TestBroker.bootstrap
        let topic = uniqueName("marks")
        try await Self.createTopic(bootstrap, topic, partitions: 1)
        let startedAt = Int64(Date().timeIntervalSince1970 * 1000) - 1000
        _ = try await Self.produce(bootstrap, topic: topic, range: 0..<50)
        let tp = KafkaTopicPartition(topic, 0)
        let consumer = try Self.consumer(bootstrap, group: nil, statistics: .milliseconds(200))
        try consumer.assign([tp: .exactly(30)])
        let recorder = EventRecorder(consumer)
        #expect(await recorder.wait { $0.records.count >= 20 })
        #expect(recorder.records.map(\.offset) == Array(30..<50))
        #expect(consumer.fetchedWatermarks(tp)?.high == 50)
        let sawCaughtUp = await recorder.wait { events in
            events.contains { if case .statistics(let s) = $0 { return s.partitions[tp]?.lag == 0 && s.partitions[tp]?.highWatermark == 50 } else { return false } }
        }
        #expect(sawCaughtUp, "statistics: \(String(describing: consumer.latestStatistics))")
        let found = try await consumer.offsets(forTimes: [tp: startedAt])
        #expect(found[tp] == 0)
        // (Tansu 0.6 answers 0 instead of "none" for a time after the newest record: not asserted here.)
        await consumer.close()
    }

    @Test func staticMembershipRejoinsWithItsPartitions() async throws {
        let bootstrap = try TestBroker.bootstrap
        let topic = uniqueName("static")
        let group = uniqueName("g")
        try await Self.createTopic(bootstrap, topic, partitions: 3)
        _ = try await Self.produce(bootstrap, topic: topic, range: 0..<30)
        let first = try Self.consumer(bootstrap, group: group, instance: "member-1")
        let r1 = EventRecorder(first)
        try first.subscribe([topic])
        #expect(await r1.wait(timeout: .seconds(60)) { $0.records.count >= 30 })
        try await first.commit(Dictionary(r1.records.map { ($0.topicPartition, $0.offset + 1) }, uniquingKeysWith: max))
        await first.close()
        _ = try await Self.produce(bootstrap, topic: topic, range: 30..<40)
        let second = try Self.consumer(bootstrap, group: group, instance: "member-1")
        let r2 = EventRecorder(second)
        try second.subscribe([topic])
        #expect(await r2.wait(timeout: .seconds(60)) { $0.records.count >= 10 })
        #expect(r2.events.currentAssignment.count == 3)
        #expect(Set(r2.records.map { String(decoding: $0.value!, as: UTF8.self) }) == Set((30..<40).map { "event-\($0)" }))
        await second.close()
    }
}

