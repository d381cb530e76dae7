import Foundation
import Logging
import QAnchorKafka
import Synchronization

/// The group's member directory (docs/kafka.md "Member directory"): every instance announces, on one small
/// compacted topic, who it is, where its HTTP API is (`http.advertised_url`) and which input partition numbers it
/// owns (active or restoring) or follows as a standby — at start, on every ownership change, and every
/// `scaling.heartbeat_ms` — and every instance reads every announcement. It is how a lookup on any instance finds
/// the user's owner (Kafka's own group description does not carry the address, and some brokers, e.g. Tansu 0.6,
/// return no members at all), how partitions no live member owns are noticed (a member that stopped announcing,
/// e.g. a static member that died, is dead after three heartbeats), and how standbys are placed.
///
/// Record: key = instance id, value = `Member` as JSON; a clean stop announces `leaving` (then the record is
/// dropped by readers). Threading: `Sendable`; the reader and announcer run as tasks of `run()`; the queries
/// are lock-protected snapshots.
final class MemberDirectory: Sendable {
    /// One instance's announcement.
    struct Member: Codable, Sendable, Equatable {
        var instance: String
        /// Base URL of its HTTP API (nil: it has none).
        var url: String?
        var active: [Int32]
        var restoring: [Int32]
        var standby: [Int32]
        /// Input partitions (of each input topic) the instance saw.
        var partitions: Int32
        /// When this announcement was made (Unix ms).
        var heartbeatMs: Int64
        var leaving: Bool

        enum CodingKeys: String, CodingKey {
            case instance, url, active, restoring, standby, partitions, leaving
            case heartbeatMs = "heartbeat_ms"
        }
    }

    let topic: String
    let instanceID: String
    /// This instance's HTTP base URL (set once the server is bound; nil: none).
    let advertisedURL = Mutex<String?>(nil)
    let heartbeat: Duration
    private var heartbeatMs: Int64 { Int64(heartbeat.seconds * 1000) }
    private let client: KafkaClientConfiguration
    private let producer: KafkaProducer
    private let members = Mutex<[String: Member]>([:])
    private let changed = AsyncSignal()
    /// Notified when another member's announcement changes what it owns or follows (or it leaves).
    let changes = AsyncSignal()
    /// What this instance announces (filled by the daemon).
    private let describeSelf: @Sendable () -> (active: Set<Int32>, restoring: Set<Int32>, standby: Set<Int32>, partitions: Int32)
    private let logger: Logger

    init(topic: String, instanceID: String, heartbeat: Duration, client: KafkaClientConfiguration,
         producer: KafkaProducer, logger: Logger,
         describeSelf: @escaping @Sendable () -> (active: Set<Int32>, restoring: Set<Int32>, standby: Set<Int32>, partitions: Int32)) {
        self.topic = topic
        self.instanceID = instanceID
        self.heartbeat = heartbeat
        self.client = client
        self.producer = producer
        self.logger = logger
        self.describeSelf = describeSelf
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Announce now (ownership changed).
    func ownershipChanged() { changed.notify() }

    /// Reads announcements and announces this instance until cancelled; then announces that it leaves.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.readLoop() }
            group.addTask { await self.announceLoop() }
            await group.waitForAll()
        }
    }

    private func announceLoop() async {
        while !Task.isCancelled {
            await announce(leaving: false)
            await changed.wait(timeout: heartbeat)
        }
    }

    /// Sends this instance's announcement (at most 5 s; failures are logged, the next heartbeat retries).
    func announce(leaving: Bool) async {
        let me = describeSelf()
        let member = Member(instance: instanceID, url: advertisedURL.withLock { $0 }, active: me.active.sorted(), restoring: me.restoring.sorted(),
                            standby: me.standby.sorted(), partitions: me.partitions, heartbeatMs: Self.nowMs(), leaving: leaving)
        record(member)
        guard let value = try? JSONEncoder().encode(member) else { return }
        let producer = self.producer, record = KafkaProducerRecord(topic: topic, partition: 0, key: Array(instanceID.utf8), value: Array(value))
        let sent = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await producer.send(record)) != nil }
            group.addTask { try? await Task.sleep(for: .seconds(5)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !sent { logger.debug("member announcement not acknowledged in time", metadata: ["topic": "\(topic)"]) }
    }

    private func readLoop() async {
        while !Task.isCancelled {
            do {
                let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
                    client: client, groupID: nil, autoOffsetReset: .earliest, maxBatchSize: 500), logger: logger)
                // Every live member re-announces each heartbeat: the last few heartbeats hold the whole picture.
                let since = Self.nowMs() - 10 * heartbeatMs - 60_000
                try consumer.assign([KafkaTopicPartition(topic, 0): .firstAtOrAfter(timestampMs: since)])
                await withTaskCancellationHandler {
                    for await event in consumer.events {
                        guard case .records(let records) = event else { continue }
                        for r in records {
                            guard let value = r.value else {
                                let key = String(decoding: r.key ?? [], as: UTF8.self)
                                _ = members.withLock { $0.removeValue(forKey: key) }
                                continue
                            }
                            if let member = try? JSONDecoder().decode(Member.self, from: Data(value)) { record(member) }
                        }
                    }
                } onCancel: {
                    Task { await consumer.close() }  // ends `events`, hence the loop
                }
                await consumer.close()
            } catch {
                logger.warning("member directory read failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func record(_ member: Member) {
        let changed = members.withLock { all -> Bool in
            let known = all[member.instance]
            if member.leaving { all[member.instance] = nil; return known != nil }
            if let known, known.heartbeatMs > member.heartbeatMs { return false }
            all[member.instance] = member
            return known.map { ($0.active, $0.restoring, $0.standby, $0.url) != (member.active, member.restoring, member.standby, member.url) } ?? true
        }
        if changed, member.instance != instanceID { changes.notify() }
    }

    /// Members whose last announcement is at most three heartbeats old, by instance id.
    func liveMembers(nowMs: Int64 = MemberDirectory.nowMs()) -> [Member] {
        let horizon = nowMs - 3 * heartbeatMs
        return members.withLock { Array($0.values) }.filter { $0.heartbeatMs >= horizon }.sorted { $0.instance < $1.instance }
    }

    /// The live member serving `partition` (active there), other than this instance, if any.
    func owner(of partition: Int32) -> Member? {
        liveMembers().filter { $0.instance != instanceID && $0.active.contains(partition) }.max { $0.heartbeatMs < $1.heartbeatMs }
    }

    /// Partition numbers below `count` that no live member owns (active or restoring).
    func unownedPartitions(count: Int32) -> Set<Int32> {
        var owned = Set<Int32>()
        for m in liveMembers() { owned.formUnion(m.active); owned.formUnion(m.restoring) }
        return Set(0..<max(count, 0)).subtracting(owned)
    }

    /// The partitions this instance should follow as a standby: for each partition with a live owner, the `replicas`
    /// live members after the owner in instance-id order (a ring) follow it.
    func standbyPartitions(replicas: Int, count: Int32) -> Set<Int32> {
        guard replicas > 0 else { return [] }
        let live = liveMembers()
        guard live.count > 1, let me = live.firstIndex(where: { $0.instance == instanceID }) else { return [] }
        var out = Set<Int32>()
        for (index, member) in live.enumerated() where index != me {
            let followers = (1...min(replicas, live.count - 1)).map { (index + $0) % live.count }
            if followers.contains(me) { out.formUnion(member.active); out.formUnion(member.restoring) }
        }
        return out.filter { $0 < count }
    }
}
