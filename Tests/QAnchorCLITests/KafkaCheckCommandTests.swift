import Foundation
import QAnchorTestSupport
import Testing

/// `qanchor kafka check`: a round trip that cleans up after itself and keeps to its timeout.
@Suite("qanchor kafka check")
struct KafkaCheckCommandTests {
    static func summary(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
    }

    @Test func aRoundTripLeavesNothingBehind() throws {
        let bootstrap = try TestBroker.bootstrap
        let (status, output, errors) = try QAnchorExecutable.run(["kafka", "check", "--bootstrap", bootstrap, "--records", "100",
                                                                  "--timeout", "60"])
        #expect(status == 0, "\(errors)")
        let summary = try Self.summary(output)
        #expect(summary["ok"] as? Bool == true && summary["records_consumed"] as? Int == 100)
        #expect((summary["left_behind"] as? [String])?.isEmpty == true, "\(summary)")
        #expect(errors.split(separator: "\n").count < 5, "librdkafka noise on stderr: \(errors.prefix(500))")
        // The topic it created is gone (all topics listed: asking for the one topic would create it again on Tansu).
        let topic = try #require(summary["topic"] as? String)
        let listed = try Kcat.run(["-b", bootstrap, "-L", "-J"])
        #expect(listed.contains("\"topics\"") && !listed.contains("\"topic\":\"\(topic)\""), "\(topic) still listed")
    }

    @Test func anUnreachableBrokerFailsWithinTheTimeout() throws {
        let began = ContinuousClock.now
        let (status, output, errors) = try QAnchorExecutable.run(["kafka", "check", "--bootstrap", "127.0.0.1:1", "--timeout", "3"])
        let took = ContinuousClock.now - began
        #expect(status != 0)
        #expect(took < .seconds(10), "took \(took)")
        let summary = try Self.summary(output)
        #expect(summary["ok"] as? Bool == false && (summary["error"] as? String)?.contains("timed out after 3") == true, "\(summary)")
        #expect(errors.split(separator: "\n").count < 5, "stderr: \(errors.prefix(500))")
    }
}
