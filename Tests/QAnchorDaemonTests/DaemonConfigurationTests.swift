import Foundation
import Testing
@testable import QAnchorDaemon

@Suite struct DaemonConfigurationTests {
    static let required = ["QANCHOR_MODEL_BUNDLE": "/models/q", "QANCHOR_STORE_PATH": "/var/lib/q"]

    static func load(_ environment: [String: String], yaml: String? = nil) async throws -> DaemonConfiguration {
        var file: String?
        if let yaml {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("qanchor-config-\(UUID().uuidString).yaml")
            try yaml.write(to: url, atomically: true, encoding: .utf8)
            file = url.path
        }
        defer { if let file { try? FileManager.default.removeItem(atPath: file) } }
        return try await DaemonConfiguration.load(file: file, environment: required.merging(environment) { $1 },
                                                  modalities: ["bill"])
    }

    @Test func propertyListsKeepCommasInsideValues() {
        #expect(splitPropertyList("a=1,b=2") == ["a=1", "b=2"])
        #expect(splitPropertyList("ssl.cipher.suites=A,B, sasl.mechanism=PLAIN") == ["ssl.cipher.suites=A,B", "sasl.mechanism=PLAIN"])
        #expect(splitPropertyList("x=h1:9092,h2:9092\ny=1\n\n") == ["x=h1:9092,h2:9092", "y=1"])
        #expect(splitPropertyList("sasl.jaas.config=m required user=\"u,v\";,acks=all")
                == ["sasl.jaas.config=m required user=\"u,v\";", "acks=all"])
        #expect(splitPropertyList("") == [])
    }

    @Test func kafkaPropertiesFromTheEnvironmentKeepTheirCommas() async throws {
        let c = try await Self.load(["QANCHOR_KAFKA_PROPERTIES": "ssl.cipher.suites=ECDHE-A,ECDHE-B,sasl.password=p=q,r"])
        #expect(c.kafka.properties == ["ssl.cipher.suites": "ECDHE-A,ECDHE-B", "sasl.password": "p=q,r"])
    }

    @Test func kafkaPropertiesFromAYAMLList() async throws {
        let c = try await Self.load([:], yaml: """
        kafka:
          properties: ["ssl.cipher.suites=A,B", "acks=all"]
        """)
        #expect(c.kafka.properties == ["ssl.cipher.suites": "A,B", "acks": "all"])
    }

    @Test func environmentOverridesTheFileAndBadValuesNameTheirKey() async throws {
        let c = try await Self.load(["QANCHOR_TOPICS_REPLICATION_FACTOR": "3"], yaml: "topics:\n  replication_factor: 2\n")
        #expect(c.topics.replicationFactor == 3)
        #expect(try await Self.load([:]).topics.replicationFactor == -1)
        await #expect {
            _ = try await Self.load(["QANCHOR_TOPICS_REPLICATION_FACTOR": "0"])
        } throws: { "\($0)".contains("topics.replication_factor") }
        await #expect {
            _ = try await Self.load(["QANCHOR_INGEST_BATCH_SIZE": "many"])
        } throws: { "\($0)".contains("ingest.batch_size") && "\($0)".contains("many") }
        await #expect {
            _ = try await Self.load(["QANCHOR_KAFKA_PROPERTIES": "novalue"])
        } throws: { "\($0)".contains("kafka.properties") }
        await #expect {
            _ = try await Self.load(["QANCHOR_MODEL_PRECISION": "fp8"])
        } throws: { "\($0)".contains("model.precision") }
        await #expect {
            _ = try await Self.load(["QANCHOR_STORE_COMMIT": "sometimes"])
        } throws: { "\($0)".contains("store.commit") }
        let tuned = try await Self.load(["QANCHOR_MODEL_PRECISION": "bf16", "QANCHOR_STORE_COMMIT": "journaled"])
        #expect(tuned.model.precision == .bf16 && tuned.store.commit == .journaled)
    }

    @Test func extraScenariosFromYAMLOrJSONAndTheirProblemsNamed() async throws {
        let c = try await Self.load([:], yaml: """
        scenarios:
          extra:
            - {id: travel, query: "Will this user travel abroad?", prototypes_file: /p/travel.json}
            - id: churn
              query: Will this user leave?
        """)
        #expect(c.scenarios.extra == [DaemonConfiguration.ExtraScenario(id: "travel", query: "Will this user travel abroad?",
                                                                         prototypesFile: "/p/travel.json"),
                                      DaemonConfiguration.ExtraScenario(id: "churn", query: "Will this user leave?")])
        let fromEnvironment = try await Self.load(["QANCHOR_SCENARIOS_EXTRA": #"[{"id": "churn", "query": "Leaving?"}]"#])
        #expect(fromEnvironment.scenarios.extra == [DaemonConfiguration.ExtraScenario(id: "churn", query: "Leaving?")])
        await #expect {
            _ = try await Self.load([:], yaml: "scenarios:\n  extra:\n    - {id: a, querry: x}\n")
        } throws: { "\($0)".contains("scenarios.extra") && "\($0)".contains("did you mean 'query'") }
        await #expect {
            _ = try await Self.load([:], yaml: "scenarios:\n  extra:\n    - {id: a, query: x}\n    - {id: a, query: y}\n")
        } throws: { "\($0)".contains("scenarios.extra[1].id") && "\($0)".contains("twice") }
        await #expect {
            _ = try await Self.load([:], yaml: "scenarios:\n  extra:\n    - {id: \"a b\", query: \"\"}\n")
        } throws: { "\($0)".contains("scenarios.extra[0].id") && "\($0)".contains("scenarios.extra[0].query") }
        await #expect {
            _ = try await Self.load(["QANCHOR_SCENARIOS_EXTRA": "travel"])
        } throws: { "\($0)".contains("scenarios.extra") && "\($0)".contains("JSON") }
    }

    @Test func aNonLoopbackHostNeedsATokenFile() async throws {
        await #expect {
            _ = try await Self.load(["QANCHOR_HTTP_HOST": "0.0.0.0"])
        } throws: { "\($0)".contains("http.token_file") }
        let c = try await Self.load(["QANCHOR_HTTP_HOST": "0.0.0.0", "QANCHOR_HTTP_TOKEN_FILE": "/run/secrets/token"])
        #expect(c.http.tokenFile == "/run/secrets/token")
        #expect(try await Self.load(["QANCHOR_HTTP_HOST": "127.0.0.1"]).http.tokenFile == nil)
    }

    @Test func outputTopicsAreCompactedAndUseTheConfiguredReplication() {
        var topics = DaemonConfiguration.Topics()
        topics.replicationFactor = 3
        let specs = topics.specifications(modalities: ["bill"], scenarios: ["risk"], partitions: 4, includeInputs: true)
        #expect(specs.map(\.name) == ["qanchor.events.bill", "qanchor.deadletter", "qanchor.embeddings.risk"])
        #expect(specs.allSatisfy { $0.partitions == 4 && $0.replicationFactor == 3 })
        #expect(specs.map { $0.configs["cleanup.policy"] } == [nil, nil, "compact"])
        #expect(topics.specifications(modalities: ["bill"], scenarios: [], partitions: 1, includeInputs: false).map(\.name)
                == ["qanchor.deadletter"])
        // With the group: its changelog (co-partitioned, compacted) and member directory (one partition, compacted).
        let scaled = topics.specifications(modalities: ["bill"], scenarios: [], partitions: 4, includeInputs: false, group: "g")
        #expect(scaled.map(\.name) == ["qanchor.deadletter", "g.changelog", "g.members"])
        #expect(scaled.map(\.partitions) == [4, 4, 1])
        #expect(scaled.dropFirst().allSatisfy { $0.configs["cleanup.policy"] == "compact" })
        #expect(!topics.specifications(modalities: [], scenarios: [], partitions: 4, includeInputs: false, group: "g",
                                       changelogEnabled: false).map(\.name).contains("g.changelog"))
    }
}
