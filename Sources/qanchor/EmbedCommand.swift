import ArgumentParser
import Foundation
import QAnchorDaemon
import QAnchorModel

/// `qanchor embed`: embeddings for the users in a JSONL file of events, without Kafka or a store.
///
/// Each line is an input-topic event (docs/daemon.md "Input records") plus `"modality"`. The window is applied relative to `--now`,
/// duplicates of (modality, event_id) are dropped (the first wins), the K_m newest events per modality and the newest
/// tabular snapshot are kept. Prints one output record per (user, scenario) as a JSON line, sorted by user then
/// scenario. Bad lines are reported on stderr with their line numbers and skipped; the exit code is 1 if any line
/// was bad, 0 otherwise.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed the users of a JSONL event file (no Kafka, no store).")

    @Option(help: "The model bundle directory.")
    var bundle: String

    @Option(help: "JSONL events (input-topic format plus \"modality\"); '-' reads standard input.")
    var events: String

    @Option(help: "Reference time for the window: RFC 3339 or epoch milliseconds (default: now).")
    var now: String?

    @Option(help: "Allowed clock skew for events after --now, in seconds.")
    var skewSeconds: Int64 = 300

    @Option(name: .customLong("scenario"), help: "Scenario id (repeatable; default: all).")
    var scenarios: [String] = []

    @Option(help: "OpenBLAS threads (0 = all cores).")
    var threads = 0

    func validate() throws {
        guard skewSeconds >= 0 else { throw ValidationError("--skew-seconds must be ≥ 0, got \(skewSeconds)") }
        guard threads >= 0 else { throw ValidationError("--threads must be ≥ 0, got \(threads)") }
    }

    func run() async throws {
        if threads > 0 { BLAS.setThreads(threads) }
        let nowMs = try OfflineUsers.referenceTime(now)
        let model: QAnchorEmbedder
        do { model = try QAnchorEmbedder(bundle: URL(fileURLWithPath: bundle)) } catch {
            throw CLIError("cannot load bundle: \(error)")
        }
        for id in scenarios where model.manifest.scenario(id: id) == nil {
            throw ValidationError("--scenario: unknown scenario '\(id)' (the bundle has \(model.scenarioIDs.joined(separator: ", ")))")
        }
        let input = try OfflineUsers(model: model, events: events, nowMs: nowMs, skewMs: skewSeconds * 1000)
        let chosenScenarios = (scenarios.isEmpty ? model.scenarioIDs : scenarios)
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let computedAt = Int64(Date().timeIntervalSince1970 * 1000)
        for user in input.users {
            let results = try model.embed(user: user.history, scenarios: chosenScenarios)
            for result in results {
                Standard.output(input.record(user, result, model: model, computedAtMs: computedAt).json)
            }
        }
        if input.badLines > 0 { throw ExitCode(1) }
    }
}

/// The users of a JSONL event file (input-topic events plus `"modality"`), as the model reads them at `nowMs`: the
/// window applied, duplicates of (modality, event_id) dropped (the first wins), the K_m newest events per modality
/// and the newest tabular snapshot kept, texts encoded once each. Bad lines are reported on stderr with their line
/// numbers and counted. Shared by `embed` and `query`.
struct OfflineUsers {
    struct User {
        var userID: String
        var history: UserHistory
        var eventTimeMs: Int64?
    }
    var users: [User] = []
    var windowStartMs: Int64
    var badLines: Int

    init(model: QAnchorEmbedder, events: String, nowMs: Int64, skewMs: Int64) throws {
        let data: Data
        do {
            data = events == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                : try Data(contentsOf: URL(fileURLWithPath: events))
        } catch { throw CLIError("cannot read \(events): \(error.localizedDescription)") }
        let parser = ModelEventParser(modalities: model.manifest.modalities)
        let (parsed, bad) = parser.parseLines(data)
        let source = events == "-" ? "<stdin>" : events
        for line in bad { Standard.error("\(source):\(line.line): \(line.error)") }
        badLines = bad.count
        let selection = ModelEventSelection(events: parsed, modalities: model.manifest.modalities,
                                            windowDays: model.manifest.windowDays, nowMs: nowMs, skewMs: skewMs)
        windowStartMs = selection.windowStartMs
        var vectorCache: [String: [String: [Float]]] = [:]
        for user in selection.users {
            var history = UserHistory()
            for m in model.manifest.modalities {
                let chosen = user.events[m.name] ?? []
                switch m.kind {
                case .text:
                    let texts = chosen.map { event -> String in
                        if case .text(let t) = event.payload { return t } else { return "" }
                    }
                    let missing = Array(Set(texts.filter { vectorCache[m.name]?[$0] == nil }))
                    if !missing.isEmpty {
                        let vectors = try model.eventVectors(modality: m.name, texts: missing)
                        for (text, vector) in zip(missing, vectors) { vectorCache[m.name, default: [:]][text] = vector }
                    }
                    history.eventVectors[m.name] = texts.map { vectorCache[m.name]![$0]! }
                case .tabular:
                    if case .features(let x)? = chosen.last?.payload { history.tabular[m.name] = x }
                }
            }
            users.append(User(userID: user.userID, history: history, eventTimeMs: user.eventTimeMs))
        }
    }

    /// `--now`: RFC 3339 or epoch milliseconds; nil: the current time.
    static func referenceTime(_ option: String?) throws -> Int64 {
        guard let option else { return Int64(Date().timeIntervalSince1970 * 1000) }
        guard let parsed = Int64(option) ?? RFC3339Timestamp.milliseconds(option) else {
            throw ValidationError("--now: expected RFC 3339 (2025-11-28T00:00:00Z) or epoch milliseconds, got '\(option)'")
        }
        return parsed
    }

    /// The output record of one result (version 1: offline records have no refresh history).
    func record(_ user: User, _ result: ScenarioEmbedding, model: QAnchorEmbedder, computedAtMs: Int64) -> EmbeddingRecord {
        EmbeddingRecord(userID: user.userID, scenario: result.scenario, embedding: result.embedding, scores: result.scores,
                        modelName: model.manifest.name, modelVersion: model.manifest.version, fingerprint: model.fingerprint,
                        version: 1, eventTimeMs: user.eventTimeMs, windowStartMs: windowStartMs, computedAtMs: computedAtMs)
    }
}

/// `qanchor embed-text`: the text tower for free-text descriptions.
struct EmbedTextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-text",
        abstract: "Embed free texts with the text tower (one JSON line per text).")

    @Option(help: "The model bundle directory.")
    var bundle: String

    @Argument(help: "The texts.")
    var texts: [String]

    func run() async throws {
        // Every text is checked before any is embedded: a bad one is named (its position), and nothing is printed.
        for (index, text) in texts.enumerated() where text.isEmpty {
            throw ValidationError("text #\(index + 1) of \(texts.count) is empty")
        }
        let model: QAnchorEmbedder
        do { model = try QAnchorEmbedder(bundle: URL(fileURLWithPath: bundle)) } catch {
            throw CLIError("cannot load bundle: \(error)")
        }
        let modelJSON = "{\"name\":\(JSONText.string(model.manifest.name)),\"version\":\(JSONText.string(model.manifest.version)),"
            + "\"fingerprint\":\(JSONText.string(model.fingerprint))}"
        // One batch, as `POST /v1/embeddings` runs a request's inputs: the same texts give the same numbers.
        let embeddings: [[Float]]
        do { embeddings = try model.embedTexts(texts).map(\.embedding) } catch { throw CLIError("\(error)") }
        for (text, embedding) in zip(texts, embeddings) {
            Standard.output("{\"text\":\(JSONText.string(text)),\"dim\":\(embedding.count),\"embedding\":["
                + embedding.map(JSONText.number).joined(separator: ",") + "],\"model\":\(modelJSON)}")
        }
    }
}

/// An error message for the user (no stack, no type names).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes whole lines to stdout/stderr.
enum Standard {
    static func output(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    static func error(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
}

