import Foundation
import QAnchorKafka
import Synchronization

/// The real broker (Tansu) for end-to-end tests.
///
/// Uses `QANCHOR_TEST_BOOTSTRAP` when set. Otherwise it uses the broker that `ops/dev/broker` runs on
/// `QANCHOR_TEST_BROKER_PORT` (default 19092), starting it on first use when it is not running and stopping it
/// when the test process exits — only if this process started it.
public enum TestBroker {
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// `host:port` of the shared test broker.
    public static var bootstrap: String {
        get throws { try shared.get() }
    }

    private static let shared: Result<String, BrokerError> = {
        let environment = ProcessInfo.processInfo.environment
        if let bootstrap = environment["QANCHOR_TEST_BOOTSTRAP"], !bootstrap.isEmpty { return .success(bootstrap) }
        guard KafkaRuntime.isBrokerCompatible else {
            return .failure(BrokerError(message: "librdkafka \(KafkaRuntime.version) is loaded; the broker needs >= 2.3 (run ops/setup, which installs it in /opt/qanchor/lib)"))
        }
        let port = Int(environment["QANCHOR_TEST_BROKER_PORT"] ?? "") ?? 19092
        do {
            let broker = try LocalBroker(port: port, stateDirectory: repositoryRoot.appendingPathComponent(".state/test"))
            if try broker.start() { LocalBroker.stopAtExit(broker) }
            return .success("127.0.0.1:\(port)")
        } catch let error as BrokerError {
            return .failure(error)
        } catch {
            return .failure(BrokerError(message: "\(error)"))
        }
    }()
}

public struct BrokerError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// One Tansu broker managed through `ops/dev/broker` (pid and log files in `stateDirectory`).
public final class LocalBroker: Sendable {
    public let port: Int
    public let stateDirectory: URL

    public init(port: Int, stateDirectory: URL) throws {
        self.port = port
        self.stateDirectory = stateDirectory
    }

    /// A broker on a free port, for tests that stop it.
    public static func onFreePort(label: String) throws -> LocalBroker {
        let port = Int.random(in: 20_000..<30_000)
        return try LocalBroker(port: port, stateDirectory: TestBroker.repositoryRoot.appendingPathComponent(".state/test-\(label)"))
    }

    public var bootstrap: String { "127.0.0.1:\(port)" }

    /// Starts the broker unless it runs; returns whether this call started it.
    @discardableResult
    public func start() throws -> Bool {
        if (try? run("status")) == 0 { return false }
        let status = try run("start")
        guard status == 0 else { throw BrokerError(message: "ops/dev/broker start failed (exit \(status)) on port \(port)") }
        return true
    }

    public func stop() {
        _ = try? run("stop")
    }

    private func run(_ verb: String) throws -> Int32 {
        var environment = ProcessInfo.processInfo.environment
        environment["QANCHOR_BROKER_PORT"] = String(port)
        environment["QANCHOR_STATE_DIR"] = stateDirectory.path
        let script = TestBroker.repositoryRoot.appendingPathComponent("ops/dev/broker").path
        return try Subprocess.run("/bin/bash", [script, verb], environment: environment).status
    }

    private static let startedByUs = Mutex<[LocalBroker]>([])

    /// Stops the broker when the test process exits normally.
    static func stopAtExit(_ broker: LocalBroker) {
        let first = startedByUs.withLock { list -> Bool in
            list.append(broker)
            return list.count == 1
        }
        if first {
            atexit {
                let brokers = LocalBroker.startedByUs.withLock { $0 }
                for broker in brokers { broker.stop() }
            }
        }
    }
}

/// A unique name for a test's topics and groups.
public func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// Reads a consumer's events in the background so tests can wait for conditions with a deadline without
/// cancelling the event stream.
public final class EventRecorder: Sendable {
    private final class Seen: Sendable { let events = Mutex<[KafkaConsumerEvent]>([]) }
    private let seen = Seen()
    private let reader: Task<Void, Never>

    public init(_ consumer: KafkaConsumer) {
        let events = consumer.events
        let seen = self.seen
        reader = Task {
            for await event in events { seen.events.withLock { $0.append(event) } }
        }
    }

    public var events: [KafkaConsumerEvent] { seen.events.withLock { $0 } }
    public var records: [KafkaConsumerRecord] { events.records }

    /// Waits until `condition` holds for the events seen so far; returns whether it did before `timeout`.
    @discardableResult
    public func wait(timeout: Duration = .seconds(30), until condition: ([KafkaConsumerEvent]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(events) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(events)
    }

    /// Waits for the stream to end (after `close()`).
    public func finished() async { await reader.value }
}

extension Array where Element == KafkaConsumerEvent {
    public var records: [KafkaConsumerRecord] {
        flatMap { event -> [KafkaConsumerRecord] in
            if case .records(let r) = event { return r }
            return []
        }
    }

    /// The partitions assigned minus those revoked, in event order.
    public var currentAssignment: Set<KafkaTopicPartition> {
        var set: Set<KafkaTopicPartition> = []
        for event in self {
            if case .assigned(let positions) = event { set.formUnion(positions.keys) }
            if case .revoked(let partitions) = event { set.subtract(partitions) }
        }
        return set
    }
}
