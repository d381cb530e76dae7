import Foundation
import QAnchorKafka
import QAnchorStore

/// Partition lifecycle: restore on assignment, standbys, routing of per-user requests, health.
extension Daemon {
    // MARK: Restore

    /// Restores each assigned partition number (concurrently), until the consumer stops assigning.
    func restoreLoop() async {
        await withTaskGroup(of: Void.self) { group in
            for await request in restoreRequests {
                let task = Task { await self.restorePartition(request.partition, epoch: request.epoch) }
                // A revocation cancels the restore (it stops at once, even inside a fetch).
                ownership.onRevoke(request.partition, epoch: request.epoch) { task.cancel() }
                group.addTask { await task.value }
            }
        }
    }

    /// Brings partition `p` up to date from the changelog, starts its input partitions at the offsets the state
    /// covers (the reset policy where none is known), and makes it active. Retries with back-off while the
    /// assignment lasts.
    func restorePartition(_ p: Int32, epoch: UInt64) async {
        defer { ownership.restoreExited(p, epoch: epoch) }
        // A standby follower of this partition (running, or stopped but maybe still writing) ends first: from now on
        // the restore alone applies its changelog.
        let followers = state.withLock { s in [s.standbys.removeValue(forKey: p), s.stoppedStandbys.removeValue(forKey: p)] }
        for follower in followers.compactMap({ $0 }) {
            follower.cancel()
            await follower.value
        }
        var delay = Duration.seconds(1)
        let ownership = self.ownership
        while ownership.isRestoring(p, epoch: epoch) {
            let began = ContinuousClock.now
            do {
                var result = ChangelogRestorer.Result()
                if let restorer {
                    result = try await restorer.restore(partition: p) { !ownership.isRestoring(p, epoch: epoch) }
                }
                guard !result.cancelled, ownership.isRestoring(p, epoch: epoch) else {
                    metrics.restores(outcome: "cancelled").increment()
                    return
                }
                let settled = try await refresher.settleUnchanged(partitions: [p], nowMs: Self.nowMs())
                try await store.checkpoint()
                let stored = Dictionary(try store.storedOffsets(partition: p).map { ($0.topic, $0.nextOffset) }) { a, _ in a }
                let rebuildFrom = Self.nowMs() - Int64(model.manifest.windowDays) * 86_400_000
                var positions: [KafkaTopicPartition: KafkaOffset] = [:]
                for topic in inputTopics {
                    positions[KafkaTopicPartition(topic, p)] = stored[topic].map { .exactly($0) }
                        ?? (configuration.kafka.autoOffsetReset == .earliest ? .firstAtOrAfter(timestampMs: rebuildFrom) : .end)
                }
                state.withLock { s in
                    for (tp, position) in positions {
                        if case .exactly(let offset) = position { s.startedAt[tp] = offset } else { s.startedAt[tp] = 0 }
                    }
                }
                try await consumer.start(positions)
                guard ownership.activate(p, epoch: epoch) else {
                    metrics.restores(outcome: "cancelled").increment()
                    return
                }
                metrics.restores(outcome: "done").increment()
                logger.info("partition ready", metadata: [
                    "partition": "\(p)", "changelog_records": "\(result.records)", "events": "\(result.events)",
                    "refresh_records": "\(result.refreshes)", "unchanged_users": "\(settled)",
                    "seconds": "\((ContinuousClock.now - began).seconds)",
                    "inputs": "\(positions.map { "\($0.key)@\($0.value)" }.sorted())",
                ])
                return
            } catch {
                metrics.restores(outcome: "failed").increment()
                logger.error("restoring a partition failed; retrying", metadata: [
                    "partition": "\(p)", "error": "\(error)", "retry_in": "\(delay)"])
                await stopSignal.wait(timeout: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        metrics.restores(outcome: "cancelled").increment()
    }

    // MARK: Standbys

    /// Follows the changelog of the partitions this instance is a standby for (`scaling.standby_replicas`, placed by
    /// the member directory), so that taking one over needs only a short catch-up.
    func standbyLoop() async {
        let heartbeat = Duration.milliseconds(configuration.scaling.heartbeatMs)
        while !Task.isCancelled, !isStopping {
            updatePartitionGauges()
            if let restorer, configuration.scaling.standbyReplicas > 0 {
                let wanted = directory.standbyPartitions(replicas: configuration.scaling.standbyReplicas,
                                                         count: routing.partitionCount).subtracting(ownership.assigned)
                let (started, stopped) = state.withLock { s -> ([Int32], [Task<Void, Never>]) in
                    let drop = s.standbys.keys.filter { !wanted.contains($0) }
                    let stop = drop.compactMap { p in s.standbys.removeValue(forKey: p).map { s.stoppedStandbys[p] = $0; return $0 } }
                    var start: [Int32] = []
                    for p in wanted where s.standbys[p] == nil {
                        let previous = s.stoppedStandbys.removeValue(forKey: p)
                        s.standbys[p] = Task { [self] in
                            await previous?.value  // one follower of a partition at a time
                            await self.follow(p, restorer: restorer)
                        }
                        start.append(p)
                    }
                    return (start, stop)
                }
                for task in stopped { task.cancel() }
                if !started.isEmpty || !stopped.isEmpty {
                    logger.info("standby partitions changed", metadata: ["following": "\(wanted.sorted())"])
                    directory.ownershipChanged()
                }
            }
            // Placement changes when the directory does; a member's silence (death) shows after heartbeats.
            await directory.changes.wait(timeout: heartbeat)
        }
    }

    private func follow(_ p: Int32, restorer: ChangelogRestorer) async {
        while !Task.isCancelled {
            do {
                _ = try await restorer.restore(partition: p, follow: true)
            } catch {
                logger.warning("standby follower failed; retrying", metadata: ["partition": "\(p)", "error": "\(error)"])
                await stopSignal.wait(timeout: .seconds(1))
            }
        }
    }

    // MARK: Routing

    /// Where a per-user request is answered.
    public enum UserRoute: Sendable, Equatable {
        /// Here: this instance owns the user's partition and it is active.
        case local(UserKey)
        /// At the owner: redirect to this base URL.
        case owner(url: String, partition: Int32)
        /// Nowhere right now (restoring, moving, no live owner); retry later.
        case unavailable(reason: String)
    }

    /// Routes a request about `userID`: its partition (`kafka.partitioner` over the input partition count) decides
    /// the owner. Never answers from a partition this instance does not own (actively) right now.
    public func route(userID: String) -> UserRoute {
        guard let p = routing.partition(ofUser: userID) else { return .unavailable(reason: "the partition count is not known yet") }
        if ownership.active.contains(p) { return .local(UserKey(partition: p, userID: userID)) }
        if ownership.restoring.contains(p) { return .unavailable(reason: "partition \(p) is being restored here") }
        if let owner = directory.owner(of: p), let url = owner.url { return .owner(url: url, partition: p) }
        return .unavailable(reason: "partition \(p) has no ready owner")
    }

    /// The last published records of a user this instance owns (raw JSON, by scenario), from the store.
    public func publishedRecords(_ user: UserKey) throws -> [String: [UInt8]] {
        try store.publishedOutputs(user)
    }

    /// Sets the address other instances redirect this instance's users to: `http.advertised_url`, else
    /// `http://<host>:<port>` (the machine's host name when bound to a wildcard address).
    public func setHTTPAddress(host: String, port: Int) {
        let url = configuration.http.advertisedURL
            ?? "http://\(["0.0.0.0", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host):\(port)"
        directory.advertisedURL.withLock { $0 = url }
        directory.ownershipChanged()
    }

    // MARK: Health

    /// Alive: the process works (also while rebalancing or restoring).
    public var isAlive: Bool { state.withLock { $0.ingestFailure == nil } }

    /// Ready: partitions assigned, none restoring, and every input partition caught up — its stored offset reached
    /// the fetched high watermark, or, while no record is in transit or being ingested, the consumer's next fetch
    /// offset did (a partition that started at the end with `auto_offset_reset: latest`, or whose log ends in
    /// transaction markers).
    public func readiness() -> (ready: Bool, reason: String) {
        let answer = computeReadiness()
        metrics.ready.set(Double(answer.ready ? 1 : 0))
        return answer
    }

    private func computeReadiness() -> (ready: Bool, reason: String) {
        let (stopping, received, ingesting) = state.withLock { ($0.stopping, $0.recordsReceived, $0.ingesting) }
        if stopping { return (false, "stopping") }
        let restoring = ownership.restoring
        if !restoring.isEmpty { return (false, "restoring partitions \(restoring.sorted())") }
        let assigned = (try? consumer.assignment()) ?? []
        if assigned.isEmpty || ownership.active.isEmpty { return (false, "no partitions assigned") }
        // Read after our own counters: a batch handed over meanwhile makes the pipeline non-idle.
        let idle = !ingesting && consumer.recordsHandedOver == received && consumer.queuedInClient == 0
        let fetchPositions = idle ? consumer.latestStatistics?.partitions : nil
        let stored: [KafkaTopicPartition: Int64]
        do {
            stored = Dictionary(try store.storedOffsets().map { (KafkaTopicPartition($0.topic, $0.partition), $0.nextOffset) },
                                uniquingKeysWith: max)
        } catch { return (false, "store: \(error)") }
        var behind = 0
        for tp in assigned {
            guard let marks = consumer.fetchedWatermarks(tp) else { return (false, "\(tp) not fetched yet") }
            if let position = stored[tp], OffsetOutOfRange.side(of: position, in: marks) == .beyondEnd {
                return (false, "\(tp): stored position \(position) is beyond the end of the log (\(marks.high)); see kafka.on_offset_out_of_range")
            }
            var done = stored[tp] ?? 0
            if let next = fetchPositions?[tp]?.nextFetchOffset { done = max(done, next) }
            behind += Int(max(0, marks.high - done))
        }
        return behind == 0 ? (true, "ready") : (false, "\(behind) records behind")
    }

    /// Refreshes store gauges (called when metrics are scraped).
    func updateStoreGauges() {
        updatePartitionGauges()
        guard let statistics = try? store.statistics(includeCacheBytes: false) else { return }
        metrics.storeMapUsed.set(Double(statistics.mapUsedBytes))
        metrics.storeMapSize.set(Double(statistics.mapSizeBytes))
        metrics.dirtyUsers.set(Double(statistics.dirtyUsers))
    }

    func updatePartitionGauges() {
        metrics.partitions(state: "active").set(Double(ownership.active.count))
        metrics.partitions(state: "restoring").set(Double(ownership.restoring.count))
        metrics.partitions(state: "standby").set(Double(state.withLock { $0.standbys.count }))
        metrics.unownedPartitions.set(Double(directory.unownedPartitions(count: routing.partitionCount).count))
        metrics.liveMembers.set(Double(directory.liveMembers().count))
    }
}

extension Duration {
    /// Seconds as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
