import ArgumentParser
import Foundation
import Logging
import QAnchorDaemon
import QAnchorModel

/// `qanchor replay`: bounded backfill of the input topics into the store, outside the live group. Prints the plan
/// (JSON) and stops unless `--execute`; then reads the plan's ranges and prints what was stored.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Backfill the store from the input topics over a time or offset range (dry run unless --execute).",
        discussion: """
        Times are RFC 3339 (2026-11-01T00:00:00Z) or epoch milliseconds and select records by their Kafka \
        timestamp; offsets apply to every selected partition. Without --from the oldest record is the start, \
        without --to the end of each partition. Reads with no consumer group (nothing is committed), leaves the \
        store's source offsets as they are, and deduplicates events: only what is missing is stored, and those \
        users are marked dirty for the daemon's next refresh. The daemon must be stopped (the store is locked).
        """)

    @Option(help: "YAML configuration file (QANCHOR_* environment overrides apply).")
    var config: String?

    @Option(help: "Start time (RFC 3339 or epoch ms).")
    var from: String?

    @Option(help: "End time, exclusive (RFC 3339 or epoch ms).")
    var to: String?

    @Option(help: "Start offset for every selected partition.")
    var fromOffset: Int64?

    @Option(help: "End offset (exclusive) for every selected partition.")
    var toOffset: Int64?

    @Option(help: "Partition numbers, comma-separated (default: all).")
    var partitions: String?

    @Option(help: "Modalities, comma-separated (default: all of the bundle's).")
    var modalities: String?

    @Flag(help: "Read the plan's ranges into the store (without it, only the plan is printed).")
    var execute = false

    @Flag(help: "Also send rejected records to the dead-letter topic (the live daemon already did once).")
    var deadLetters = false

    func validate() throws {
        if from != nil && fromOffset != nil { throw ValidationError("use --from or --from-offset, not both") }
        if to != nil && toOffset != nil { throw ValidationError("use --to or --to-offset, not both") }
        for (name, value) in [("--from", from), ("--to", to)] {
            if let value, Self.milliseconds(value) == nil {
                throw ValidationError("\(name) '\(value)' is neither an RFC 3339 time nor epoch milliseconds")
            }
        }
        if let partitions, Self.partitionSet(partitions) == nil {
            throw ValidationError("--partitions must be comma-separated non-negative numbers")
        }
    }

    static func milliseconds(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        return RFC3339Timestamp.milliseconds(text)
    }

    static func partitionSet(_ text: String) -> Set<Int32>? {
        let numbers = text.split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard !numbers.isEmpty, numbers.allSatisfy({ ($0 ?? -1) >= 0 }) else { return nil }
        return Set(numbers.compactMap { $0 })
    }

    func run() async throws {
        let configuration = try await DaemonSetup.load(config)
        DaemonSetup.bootstrapLogging(configuration)
        let logger = Logger(label: "qanchor.replay")
        var request = ReplayRequest()
        if let from { request.from = .time(Self.milliseconds(from)!) } else if let fromOffset { request.from = .offset(fromOffset) }
        if let to { request.to = .time(Self.milliseconds(to)!) } else if let toOffset { request.to = .offset(toOffset) }
        request.partitions = partitions.flatMap(Self.partitionSet)
        request.modalities = modalities.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
        let manifest = try BundleManifest.load(bundleDirectory: URL(fileURLWithPath: configuration.model.bundle))
        let replayer = Replayer(configuration: configuration, logger: logger)
        let plan = try await replayer.plan(request, manifest: manifest)
        var report: [String: Any] = ["plan": plan.jsonObject, "executed": execute]
        if execute {
            let summary = try await replayer.execute(plan, sendDeadLetters: deadLetters) { progress in
                logger.info("replay progress", metadata: ["records": "\(progress.recordsRead)", "stored": "\(progress.store.stored)"])
            }
            report["summary"] = summary.jsonObject
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
        Standard.output(String(decoding: data, as: UTF8.self))
    }
}
