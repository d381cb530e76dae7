import Foundation
import QAnchorModel

/// What a deployment publishes: the bundle's scenarios, then the configuration's query-only scenarios
/// (`scenarios.extra`, docs/query.md "Query-only scenarios"), and the fingerprint naming both — the *serving
/// fingerprint*. It is the bundle's fingerprint when there are no extra scenarios; otherwise
/// `sha256:` of the bundle's fingerprint and each extra scenario's id, query and prototypes. Refresh records carry
/// it, so adding or changing an extra scenario re-dirties every user (like a new bundle) while the output records
/// still name the bundle (`model.fingerprint`) and cached prefix states stay valid.
///
/// Built once at start (prototype files read and checked against the bundle there). Immutable; `Sendable`.
public struct ServingScenarios: Sendable {
    /// The bundle's scenario ids, in manifest order.
    public let bundleIDs: [String]
    /// The extra scenarios as queries (`id` set), in configuration order.
    public let extra: [ScenarioQuery]
    public let fingerprint: String

    /// Every published scenario id: the bundle's, then the extra ones.
    public var ids: [String] { bundleIDs + extra.compactMap(\.id) }

    /// Reads `configured` against `model`. Throws a ``ConfigurationError`` naming `scenarios.extra[i]` for an id the
    /// bundle already has, an unreadable or malformed prototypes file, or prototypes that do not fit the model.
    public init(model: QAnchorEmbedder, configured: [DaemonConfiguration.ExtraScenario]) throws {
        bundleIDs = model.scenarioIDs
        var queries: [ScenarioQuery] = []
        var sha = SHA256()
        sha.update(Array("qanchor-serving-v1\n\(model.fingerprint)\n".utf8))
        for (i, s) in configured.enumerated() {
            let key = "scenarios.extra[\(i)]"
            guard !model.scenarioIDs.contains(s.id) else {
                throw ConfigurationError(key: key + ".id", problem: "'\(s.id)' is a scenario of the bundle already")
            }
            var query = ScenarioQuery(id: s.id, query: s.query)
            sha.update(Array("\(s.id)\n\(s.query.utf8.count)\n\(s.query)\n".utf8))
            if let path = s.prototypesFile {
                let data: Data
                do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                    throw ConfigurationError(key: key + ".prototypes_file", problem: "cannot read \(path): \(error.localizedDescription)")
                }
                struct File: Decodable { var prototypes: [[Float]]; var labels: [String]?; var tau: Double? }
                let file: File
                do { file = try JSONDecoder().decode(File.self, from: data) } catch {
                    throw ConfigurationError(key: key + ".prototypes_file",
                                             problem: "\(path): expected {\"prototypes\": [[…]], \"labels\": […], \"tau\": x}: \(DecodingProblem(error))")
                }
                query.prototypes = file.prototypes
                query.labels = file.labels
                query.tau = file.tau
                sha.update(Array(data))
            }
            do { try model.validate(query) } catch {
                throw ConfigurationError(key: key, problem: "\(error)")
            }
            queries.append(query)
        }
        extra = queries
        fingerprint = configured.isEmpty ? model.fingerprint : "sha256:" + sha.finalize().hexString
    }
}
