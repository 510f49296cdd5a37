import XCTest
@testable import Evtrack

final class SmokeTests: XCTestCase {
    func testTimestamp() {
        XCTAssertEqual(Timestamp.rfc3339(ms: 0), "1970-01-01T00:00:00.000Z")
    }
}
