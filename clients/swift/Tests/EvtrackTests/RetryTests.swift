import Foundation
import XCTest
@testable import Evtrack

final class RetryAfterTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_764_151_200) // Wed, 26 Nov 2025 10:00:00 GMT

    func testDelaySeconds() {
        XCTAssertEqual(RetryAfter.parse("4", now: now), 4)
        XCTAssertEqual(RetryAfter.parse(" 120 ", now: now), 120)
        XCTAssertEqual(RetryAfter.parse("0", now: now), 0)
    }

    func testIMFFixdate() {
        XCTAssertEqual(RetryAfter.parse("Wed, 26 Nov 2025 10:01:30 GMT", now: now), 90)
    }

    func testObsoleteDateForms() {
        XCTAssertEqual(RetryAfter.parse("Wednesday, 26-Nov-25 10:00:10 GMT", now: now), 10) // RFC 850
        XCTAssertEqual(RetryAfter.parse("Wed Nov 26 10:00:20 2025", now: now), 20) // asctime
    }

    func testDateInThePastMeansNow() {
        XCTAssertEqual(RetryAfter.parse("Wed, 26 Nov 2025 09:00:00 GMT", now: now), 0)
    }

    func testUnreadableValues() {
        for v in [nil, "", "-1", "1.5", "soon", "Wed, 99 Nov 2025 10:00:00 GMT"] {
            XCTAssertNil(RetryAfter.parse(v, now: now), v ?? "nil")
        }
    }
}

final class BackoffTests: XCTestCase {
    func testFullJitterBounds() {
        let b = Backoff(base: 1, max: 300)
        for attempt in 1...80 {
            let ceiling = min(300, pow(2, Double(attempt - 1)))
            XCTAssertEqual(b.ceiling(attempt: attempt), ceiling)
            XCTAssertEqual(b.delay(attempt: attempt, random: 0), 0, "full jitter starts at zero")
            XCTAssertEqual(b.delay(attempt: attempt, random: 0.999_999), ceiling * 0.999_999, accuracy: 1e-9)
            for _ in 0..<50 {
                let d = b.delay(attempt: attempt, random: Double.random(in: 0..<1))
                XCTAssertTrue(d >= 0 && d <= ceiling, "attempt \(attempt): \(d)")
            }
        }
        XCTAssertEqual(b.ceiling(attempt: 9), 256)
        XCTAssertEqual(b.ceiling(attempt: 10), 300, "capped")
        XCTAssertEqual(b.ceiling(attempt: 10_000), 300, "no overflow")
    }

    func testJitterSpreadsRetries() {
        let b = Backoff(base: 2, max: 600)
        let delays = (0..<10_000).map { _ in b.delay(attempt: 4, random: Double.random(in: 0..<1)) }
        let mean = delays.reduce(0, +) / Double(delays.count)
        XCTAssertEqual(mean, 8, accuracy: 0.4, "uniform over [0, 16]")
        XCTAssertLessThan(delays.min()!, 0.5)
        XCTAssertGreaterThan(delays.max()!, 15.5)
    }
}
