import Foundation
import Testing
@testable import QAnchorKafka

/// librdkafka's statistics JSON, reduced to per-partition positions and lag.
@Suite struct KafkaConsumerStatisticsTests {
    static let sample = #"""
    {"name":"c#consumer-1","type":"consumer","ts":123,"msg_cnt":0,"brokers":{"b":{"name":"b"}},
     "topics":{"events.bill":{"topic":"events.bill","age":1,"partitions":{
        "0":{"partition":0,"fetch_state":"active","desired":true,"hi_offset":120,"app_offset":100,"committed_offset":90,
             "consumer_lag":30,"next_offset":101,"extra":[1,{"x":null}]},
        "1":{"partition":1,"fetch_state":"none","desired":true,"hi_offset":-1001,"app_offset":-1001,"committed_offset":-1001,
             "consumer_lag":-1,"next_offset":0},
        "2":{"partition":2,"fetch_state":"none","desired":false,"hi_offset":5},
        "3":{"partition":3,"fetch_state":"offset-query","hi_offset":50,"app_offset":-1001,"consumer_lag":12},
        "-1":{"partition":-1,"fetch_state":"none","desired":false}}}}}
    """#

    @Test func keepsFetchedPartitionsWithTheApplicationsLag() throws {
        let stats = try #require(Array(Self.sample.utf8).withUnsafeBytes { KafkaConsumerStatistics(librdkafkaJSON: $0) })
        #expect(Set(stats.partitions.keys) == [KafkaTopicPartition("events.bill", 0), KafkaTopicPartition("events.bill", 1),
                                                KafkaTopicPartition("events.bill", 3)])
        let p0 = stats.partitions[KafkaTopicPartition("events.bill", 0)]
        #expect(p0 == KafkaPartitionStatistics(highWatermark: 120, position: 100, committedOffset: 90, lag: 20, nextFetchOffset: 101))
        let p1 = stats.partitions[KafkaTopicPartition("events.bill", 1)]
        #expect(p1?.highWatermark == nil && p1?.position == nil && p1?.lag == nil, "-1001 and -1 mean unknown")
        #expect(stats.partitions[KafkaTopicPartition("events.bill", 3)]?.lag == 12, "committed-offset lag without a position")
        #expect(stats.totalLag == 32)
    }

    @Test func malformedInputIsNil() {
        for text in ["", "{", "[]", #"{"topics":3}"#, #"{"topics":{"t":{"partitions":{"0":{"hi_offset":"x"}}}}}"#] {
            #expect(Array(text.utf8).withUnsafeBytes { KafkaConsumerStatistics(librdkafkaJSON: $0) } == nil, "\(text)")
        }
    }
}
