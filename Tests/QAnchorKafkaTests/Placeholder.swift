import Testing
@testable import QAnchorKafka
