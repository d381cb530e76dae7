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

    @Test func aTouchedEntryIsEvictedLastAndADroppedPartitionFreesItsBytes() async throws {
        let dir = TemporaryDirectory()
        var config = Fixture.configuration(dir.url)
        config.prefixKVBudgetBytes = 3000
        let store = try EventStore(configuration: config)
        defer { store.close() }
        let bytes = [UInt8](repeating: 5, count: 900)
        let users = (0..<3).map { Fixture.user("t\($0)") }
        for u in users { _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [1], fingerprint: "f", bytes: bytes), for: u) }
        // t0 is the oldest; a touch (a query hit) makes it the newest, so t1 goes first.
        #expect(try await store.touchPrefixKV(users[0]))
        #expect(try await store.touchPrefixKV(Fixture.user("absent")) == false)
        _ = try await store.storePrefixKV(PrefixKVEntry(contentHash: [1], fingerprint: "f", bytes: bytes), for: Fixture.user("t3"))
        #expect(try store.prefixKV(users[0], contentHash: [1], fingerprint: "f") == bytes)
        #expect(try store.prefixKV(users[1], contentHash: [1], fingerprint: "f") == nil)
        #expect(try store.hasPrefixKV(users[2]) && !store.hasPrefixKV(users[1]))
        // Dropping the partition removes headers, bodies and LRU entries, and their bytes from the total.
        let before = try store.statistics()
        #expect(before.prefixKVEntries == 3)
        _ = try await store.dropPartition(users[0].partition, keysPerTransaction: 2)
        let after = try store.statistics()
        #expect(after.prefixKVEntries == 0 && after.prefixKVBytes == 0, "\(after)")
    }
}
