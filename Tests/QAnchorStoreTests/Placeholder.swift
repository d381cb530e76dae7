import Testing
@testable import QAnchorStore
