import Testing
@testable import QAnchorModel
