import Foundation
import Logging
import QAnchorTestSupport
import Testing
@testable import QAnchorKafka

/// Fast tests and fault injection against librdkafka's in-process mock cluster.
@Suite("Kafka layer on the mock cluster")
struct KafkaMockClusterTests {
    static func client(_ cluster: KafkaMockCluster) -> KafkaClientConfiguration {
        KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers)
    }

    static func producer(_ cluster: KafkaMockCluster, messageTimeout: Duration = .seconds(30),
                         maxQueued: Int = 100_000) throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(
            client: client(cluster), messageTimeout: messageTimeout, linger: .milliseconds(1),
            maxQueuedMessages: maxQueued))
    }

    @Test func keyedRecordsWithHeadersRoundTrip() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("roundtrip")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try Self.producer(cluster)
        var sent: [String: KafkaDeliveryReport] = [:]
        for i in 0..<30 {
            let record = KafkaProducerRecord(
                topic: topic, key: "user-\(i % 7)", value: Array("value-\(i)".utf8),
                headers: [KafkaHeader("n", String(i)), KafkaHeader("empty", nil)], timestampMs: 1_700_000_000_000 + Int64(i))
            sent["value-\(i)"] = try await producer.send(record)
        }
        try await producer.close()
        // Same key → same partition (the partitioner is deterministic on the key).
        let byKey = Dictionary(grouping: (0..<30), by: { $0 % 7 }).mapValues { Set($0.map { sent["value-\($0)"]!.topicPartition }) }
        #expect(byKey.values.allSatisfy { $0.count == 1 })

        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: Self.client(cluster), groupID: nil))
        try consumer.assign([KafkaTopicPartition(topic, 0): .beginning, KafkaTopicPartition(topic, 1): .beginning,
                             KafkaTopicPartition(topic, 2): .beginning])
        let recorder = EventRecorder(consumer)
        #expect(await recorder.wait { $0.records.count >= 30 })
        let records = recorder.records
        #expect(records.count == 30)
        for record in records {
            let value = String(decoding: record.value ?? [], as: UTF8.self)
            let i = Int(value.dropFirst("value-".count))!
            #expect(record.keyString == "user-\(i % 7)")
            #expect(record.headers.string("n") == String(i))
            #expect(record.headers.contains(KafkaHeader("empty", nil)))
            #expect(record.timestampMs == 1_700_000_000_000 + Int64(i))
            #expect(sent[value]?.topicPartition == record.topicPartition)
            #expect(sent[value]?.offset == record.offset)
        }
        await consumer.close()
        await recorder.finished()
    }

    /// Starts every assigned partition at the first record at or after a time (what the daemon does to rebuild a
    /// partition's window).
    struct StartAtTime: KafkaRebalanceHandler {
        let timestampMs: Int64
        func startPositions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: KafkaOffset] {
            Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.firstAtOrAfter(timestampMs: timestampMs)) })
        }
    }

    /// With no record at or after the time, the partition starts at the end: only later records arrive. (Neither
    /// test broker resolves a time inside the log — the mock answers "none" to every offsets-for-times query and
    /// Tansu 0.6 answers 0 — so the lookup of a time between records is not exercised here.)
    @Test func aPartitionStartedAtATimeAfterItsNewestRecordStartsAtTheEnd() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("bytime")
        try cluster.createTopic(topic, partitions: 1)
        let hour: Int64 = 3_600_000
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let producer = try Self.producer(cluster)
        for i in 0..<5 {
            _ = try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("old-\(i)".utf8),
                                                            timestampMs: now - Int64(5 - i) * hour))
        }
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: Self.client(cluster), groupID: uniqueName("g")),
            rebalanceHandler: StartAtTime(timestampMs: now - 1))
        let recorder = EventRecorder(consumer)
        try consumer.subscribe([topic])
        #expect(await recorder.wait(timeout: .seconds(30)) { !$0.currentAssignment.isEmpty })
        try await Task.sleep(for: .milliseconds(500))
        for i in 0..<2 {
            _ = try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("new-\(i)".utf8)))
        }
        try await producer.close()
        #expect(await recorder.wait(timeout: .seconds(30)) { $0.records.count >= 2 })
        #expect(recorder.records.map(\.offset) == [5, 6])
        await consumer.close()
        await recorder.finished()
    }

    @Test func sendFailsAndFlushTimesOutWhenTheBrokerIsDown() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("down")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try Self.producer(cluster, messageTimeout: .seconds(2))
        try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("before".utf8)))
        try cluster.setBroker(1, up: false)
        let started = ContinuousClock.now
        let pending = Task { try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("lost".utf8))) }
        while producer.queuedCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        await #expect(throws: KafkaError.self) { try await producer.flush(timeout: .milliseconds(500)) }
        let error = await #expect(throws: KafkaError.self) { try await pending.value }
        #expect(error?.code == .messageTimedOut)
        #expect(error?.isRetriable == true)
        #expect(ContinuousClock.now - started < .seconds(20))
        try await producer.close(timeout: .seconds(1))
    }

    @Test func fullQueueMakesSendWaitInsteadOfDropping() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("backpressure")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try Self.producer(cluster, maxQueued: 5)
        // A stalled broker (every response held back 3 s), not a downed one: taking a mock broker down and up again
        // re-binds its port, which another test's connection may hold by then (librdkafka then aborts).
        try cluster.setBroker(1, roundTripTime: .seconds(3))
        let sends = Task {
            try await withThrowingTaskGroup(of: KafkaDeliveryReport.self) { group in
                for i in 0..<40 {
                    group.addTask { try await producer.send(KafkaProducerRecord(topic: topic, key: "k\(i)", value: [UInt8(i)])) }
                }
                var reports: [KafkaDeliveryReport] = []
                for try await report in group { reports.append(report) }
                return reports
            }
        }
        try await Task.sleep(for: .milliseconds(800))
        #expect(producer.queuedCount <= 5 + 2)  // librdkafka's own requests may be queued too
        try cluster.setBroker(1, roundTripTime: .zero)
        let reports = try await sends.value
        #expect(reports.count == 40)
        #expect(Set(reports.compactMap(\.offset)) == Set(0..<40))
        try await producer.close()
    }

    /// `sendAll` keeps the input order (one partition's offsets follow it), waits for room when the queue is full
    /// and settles each record on its own: one refused record fails alone.
    @Test func sendAllKeepsOrderWaitsForRoomAndSettlesEachRecord() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("sendall")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try Self.producer(cluster, maxQueued: 5)
        var records = (0..<40).map { KafkaProducerRecord(topic: topic, partition: 0, key: "k\($0)", value: Array("v\($0)".utf8)) }
        // Larger than message.max.bytes (1 MB default): refused by librdkafka at once.
        records.insert(KafkaProducerRecord(topic: topic, partition: 0, key: "big", value: [UInt8](repeating: 7, count: 2_000_000)), at: 17)
        let results = await producer.sendAll(records)
        #expect(results.count == 41)
        guard case .failure(let refused) = results[17] else { Issue.record("the oversized record was not refused"); return }
        #expect(refused.code == .messageSizeTooLarge)
        var offsets: [Int64] = []
        for (index, result) in results.enumerated() where index != 17 {
            guard case .success(let report) = result else { Issue.record("record \(index) failed: \(result)"); continue }
            offsets.append(report.offset ?? -1)
        }
        #expect(offsets == Array(0..<40))
        #expect(await producer.sendAll([]).isEmpty)
        try await producer.close()
    }

    @Test func retriableProduceErrorsAreRetriedWithoutDuplicates() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("retry")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try Self.producer(cluster)
        try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("first".utf8)))
        // Produce = API key 0.
        cluster.pushRequestErrors(apiKey: 0, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas])
        let report = try await producer.send(KafkaProducerRecord(topic: topic, key: "k", value: Array("second".utf8)))
        #expect(report.offset == 1)
        try await producer.close()

        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: Self.client(cluster), groupID: nil))
        try consumer.assign([KafkaTopicPartition(topic, 0): .beginning])
        let recorder = EventRecorder(consumer)
        await recorder.wait(timeout: .seconds(3)) { $0.records.count > 2 }
        #expect(recorder.records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["first", "second"])
        await consumer.close()
    }

    @Test func groupCommitAndCommittedOffsets() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("commit")
        let group = uniqueName("group")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try Self.producer(cluster)
        for i in 0..<20 {
            try await producer.send(KafkaProducerRecord(topic: topic, partition: Int32(i % 2), key: "k", value: [UInt8(i)]))
        }
        try await producer.close()
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: Self.client(cluster), groupID: group, sessionTimeout: .seconds(6)))
        try consumer.subscribe([topic])
        let recorder = EventRecorder(consumer)
        #expect(await recorder.wait { $0.records.count >= 20 })
        let p0 = KafkaTopicPartition(topic, 0), p1 = KafkaTopicPartition(topic, 1)
        try consumer.storeOffsets([p0: 4])
        try await consumer.commit()
        try await consumer.commit([p1: 7])
        let committed = try await consumer.committed([p0, p1])
        #expect(committed[p0] == 4)
        #expect(committed[p1] == 7)
        // Commit failures surface as errors: OffsetCommit = API key 8.
        cluster.pushRequestErrors(apiKey: 8, Array(repeating: .unknownMemberID, count: 1))
        await #expect(throws: KafkaError.self) { try await consumer.commit([p0: 5]) }
        await consumer.close()
    }

    @Test func flowControlPausesWhileTheReaderIsBehindAndLosesNothing() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("flow")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try Self.producer(cluster)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<3000 {
                group.addTask { try await producer.send(KafkaProducerRecord(topic: topic, partition: Int32(i % 2), key: "k", value: Array(String(i).utf8))) }
            }
            try await group.waitForAll()
        }
        try await producer.close()
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            client: Self.client(cluster), groupID: nil, maxBatchSize: 50, pauseAbove: 200, resumeBelow: 50))
        try consumer.assign([KafkaTopicPartition(topic, 0): .beginning, KafkaTopicPartition(topic, 1): .beginning])
        // Nobody reads: the backlog must stop near the high-water mark.
        try await Task.sleep(for: .seconds(1))
        let backlog = consumer.backlogForTesting
        #expect(backlog > 0)
        #expect(backlog < 200 + 600)  // the threshold plus what was already fetched when the pause took effect
        // Now read everything: every record exactly once, in offset order per partition.
        var offsets: [Int32: [Int64]] = [:]
        var values: [Int32: Set<Int>] = [:]
        var count = 0
        for await event in consumer.events {
            guard case .records(let records) = event else { continue }
            for r in records {
                offsets[r.partition, default: []].append(r.offset)
                values[r.partition, default: []].insert(Int(String(decoding: r.value!, as: UTF8.self))!)
            }
            count += records.count
            if count >= 3000 { break }
        }
        #expect(offsets[0] == Array(0..<1500))
        #expect(offsets[1] == Array(0..<1500))
        #expect(values[0] == Set(stride(from: 0, to: 3000, by: 2)))
        #expect(values[1] == Set(stride(from: 1, to: 3000, by: 2)))
        await consumer.close()
    }

    /// A position beyond the log end, as after the topic was recreated: with `auto.offset.reset=error` the consumer
    /// reports it (Kafka's OFFSET_OUT_OF_RANGE) instead of resetting silently, and the fetched high watermark is the
    /// new log's end — what the daemon's out-of-range check compares its stored position with.
    @Test func aPositionBeyondTheLogEndIsReportedNotReset() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("beyond")
        try cluster.createTopic(topic, partitions: 1)
        let producer = try Self.producer(cluster)
        for i in 0..<10 { try await producer.send(KafkaProducerRecord(topic: topic, partition: 0, key: "k", value: [UInt8(i)])) }
        let tp = KafkaTopicPartition(topic, 0)
        var configuration = KafkaConsumerConfiguration(client: Self.client(cluster), groupID: nil)
        configuration.autoOffsetReset = .error
        let consumer = try KafkaConsumer(configuration: configuration)
        try consumer.assign([tp: .exactly(50)])
        let recorder = EventRecorder(consumer)
        let reported = await recorder.wait(timeout: .seconds(10)) { events in
            events.contains { if case .error(let e) = $0 { return e.code == .autoOffsetReset } else { return false } }
        }
        try await Task.sleep(for: .seconds(1))
        #expect(reported, "no error event: \(recorder.events)")
        #expect(recorder.records.isEmpty)
        #expect(consumer.fetchedWatermarks(tp)?.high == 10, "\(String(describing: consumer.fetchedWatermarks(tp)))")
        await consumer.close()
        await recorder.finished()
        try await producer.close()
    }

    @Test func pausedPartitionsDeliverNothingUntilResumed() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        let topic = uniqueName("pause")
        try cluster.createTopic(topic, partitions: 2)
        let p0 = KafkaTopicPartition(topic, 0), p1 = KafkaTopicPartition(topic, 1)
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: Self.client(cluster), groupID: nil))
        try consumer.assign([p0: .beginning, p1: .beginning])
        try consumer.pause([p0])
        let recorder = EventRecorder(consumer)
        let producer = try Self.producer(cluster)
        for i in 0..<10 {
            try await producer.send(KafkaProducerRecord(topic: topic, partition: Int32(i % 2), key: "k", value: [UInt8(i)]))
        }
        #expect(await recorder.wait { $0.records.count >= 5 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(recorder.records.allSatisfy { $0.topicPartition == p1 })
        #expect(recorder.records.count == 5)
        try consumer.resume([p0])
        #expect(await recorder.wait { $0.records.count >= 10 })
        #expect(recorder.records.filter { $0.topicPartition == p0 }.map(\.offset) == Array(0..<5))
        try await producer.close()
        await consumer.close()
    }

    @Test func invalidPropertyNamesTheKeyNotTheValue() throws {
        var client = KafkaClientConfiguration(bootstrapServers: ["127.0.0.1:1"])
        client.properties = ["sasl.password": "hunter2", "no.such.property": "x"]
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client))
        }
        #expect(error?.description.contains("no.such.property") == true)
        #expect(error?.description.contains("hunter2") == false)
        #expect(client.redactedProperties["sasl.password"] == "[redacted]")
    }
}
