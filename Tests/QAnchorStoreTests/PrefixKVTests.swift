import Foundation
import Testing
@testable import QAnchorStore

@Suite struct PrefixKVTests {
    @Test func entriesAreReturnedOnlyForTheirHashAndFingerprintAndEvictedLRU() async throws {
        let dir = TemporaryDirectory()
        var config = Fixture.configuration(dir.url)
        config.prefixKVBudgetBytes = 3000
        let store = try EventStore(configuration: config)
        defer { store.close() }
        let bytes = [UInt8](repeating: 7, count: 900)
        let users = (0..<4).map { Fixture.user("u\($0)") }
        var evicted = 0
        for u in users {
            evicted += try await store.storePrefixKV(PrefixKVEntry(contentHash: [1, 2], fingerprint: "fp1", bytes: bytes), for: u)
        }
        // ~920 bytes each with the header: three fit in 3000, the first stored is evicted.
        #expect(evicted == 1)
        #expect(try store.prefixKV(users[0], contentHash: [1, 2], fingerprint: "fp1") == nil)
        #expect(try store.prefixKV(users[3], contentHash: [1, 2], fingerprint: "fp1") == bytes)
        #expect(try store.prefixKV(users[3], contentHash: [9], fingerprint: "fp1") == nil)
        #expect(try store.prefixKV(users[3], contentHash: [1, 2], fingerprint: "fp2") == nil)
        let stats = try store.statistics()
        #expect(stats.prefixKVEntries == 3 && stats.prefixKVBytes <= 3000 && stats.prefixKVBytes > 2700)
        // Replacing an entry does not count it twice.
        _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [3], fingerprint: "fp1", bytes: [1]), for: users[3])
        #expect(try store.statistics().prefixKVEntries == 3)
        #expect(try store.prefixKV(users[3], contentHash: [3], fingerprint: "fp1") == [1])
        // Larger than the whole budget: refused.
        await #expect(throws: StoreError.self) {
            _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [1], fingerprint: "fp1", bytes: [UInt8](repeating: 0, count: 4000)),
                                              for: users[0])
        }
    }
}
