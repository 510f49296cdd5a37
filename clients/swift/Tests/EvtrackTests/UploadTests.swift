import Foundation
import XCTest
@testable import Evtrack

/// Every way an upload can end, through an injected transport.
final class UploadTests: XCTestCase {
    func testOther5xxBacksOffAndRetriesTheSameEvents() async throws {
        let h = Harness()
        h.transport.answer { n, r in n == 0 ? .error(500, "internal") : .accepted(r.eventIDs.count) }
        let client = try h.client()
        let ids = (0..<3).compactMap { client.track("e\($0)") }
        let first = await client.flush()
        // Full jitter with random() fixed at 0.5: half of base · 2^0.
        XCTAssertEqual(first, FlushResult(remaining: 3, blocker: .backoff(until: h.clock.now().addingTimeInterval(0.5))))
        XCTAssertEqual(client.counters.retries, 1)
        h.clock.advance(0.5)
        let second = await client.flush()
        XCTAssertTrue(second.isComplete)
        let sent = h.transport.sent
        XCTAssertEqual(sent.count, 2)
        XCTAssertEqual(sent[0].eventIDs, ids)
        XCTAssertEqual(try sent[0].events.map(canonical), try sent[1].events.map(canonical), "event_id and client_timestamp never regenerated")
        XCTAssertNotEqual(sent[0].sentAt, sent[1].sentAt, "sent_at set on every attempt")
        XCTAssertEqual(client.counters.delivered, 3)
        _ = await client.shutdown(deadline: Date())
    }

    func testNetworkErrorBacksOffExponentiallyAndNeverDropsTheQueue() async throws {
        let h = Harness()
        h.transport.answer { _, _ in throw URLError(.notConnectedToInternet) }
        let client = try h.client { $0.retryBaseDelay = 1; $0.retryMaxDelay = 30 }
        for i in 0..<50 { client.track("e\(i)") }
        var waits: [TimeInterval] = []
        for _ in 0..<40 {
            let r = await client.flush()
            guard case .backoff(let until)? = r.blocker else { return XCTFail("\(r)") }
            XCTAssertEqual(r.remaining, 50, "the queue is never deleted because uploads keep failing")
            waits.append(until.timeIntervalSince(h.clock.now()))
            h.clock.advance(until.timeIntervalSince(h.clock.now()))
        }
        // 0.5 · min(30, 2^(n-1)): 0.5, 1, 2, 4, 8, 15, 15, …
        XCTAssertEqual(Array(waits.prefix(7)), [0.5, 1, 2, 4, 8, 15, 15])
        XCTAssertEqual(waits.max(), 15)
        XCTAssertEqual(client.counters.retries, 40)
        XCTAssertEqual(client.counters.droppedByCap, 0)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        let done = await client.flush()
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(client.counters.delivered, 50)
        _ = await client.shutdown(deadline: Date())
    }

    func testBackoffStateIsKeptAcrossLaunches() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(502, "bad_gateway") }
        var client = try h.client()
        client.track("e")
        _ = await client.flush()
        h.clock.advance(10)
        let r = await client.flush()
        guard case .backoff(let until)? = r.blocker else { return XCTFail("\(r)") }
        _ = await client.shutdown(deadline: Date())

        client = try h.client() // a new launch on the same folder
        let again = await client.flush()
        XCTAssertEqual(again, FlushResult(remaining: 1, blocker: .backoff(until: until)), "the wait survives the relaunch")
        XCTAssertEqual(h.transport.sent.count, 2)
        h.clock.advance(until.timeIntervalSince(h.clock.now()))
        _ = await client.flush()
        // The third failure waits longer than the second: the attempt count survived.
        let third = await client.flush()
        guard case .backoff(let u3)? = third.blocker else { return XCTFail("\(third)") }
        XCTAssertEqual(u3.timeIntervalSince(h.clock.now()), 2, accuracy: 0.001) // 0.5 · 2^2
        _ = await client.shutdown(deadline: Date())
    }

    func testRetryAfterPauseIsKeptAcrossLaunches() async throws {
        let h = Harness()
        h.transport.answer { n, r in n == 0 ? .error(503, "overloaded", retryAfter: "120") : .accepted(r.eventIDs.count) }
        var client = try h.client()
        client.track("e")
        _ = await client.flush()
        _ = await client.shutdown(deadline: Date())
        client = try h.client()
        let r = await client.flush()
        XCTAssertEqual(r.blocker, .paused(until: h.clock.now().addingTimeInterval(120)))
        h.clock.advance(120)
        let done = await client.flush()
        XCTAssertTrue(done.isComplete)
        _ = await client.shutdown(deadline: Date())
    }

    func testRetryAfterAsHTTPDatePausesThePipeline() async throws {
        let h = Harness()
        let date = httpDate(h.clock.now().addingTimeInterval(90))
        h.transport.answer { n, r in n == 0 ? .error(429, "rate_limited", retryAfter: date) : .accepted(r.eventIDs.count) }
        let client = try h.client()
        client.track("e")
        let r = await client.flush()
        XCTAssertEqual(r.blocker, .paused(until: h.clock.now().addingTimeInterval(90)))
        _ = await client.shutdown(deadline: Date())
    }

    func testRetryAfterIsCapped() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(503, "stream_full", retryAfter: "999999") }
        let client = try h.client { $0.maxRetryAfter = 600 }
        client.track("e")
        let r = await client.flush()
        XCTAssertEqual(r.blocker, .paused(until: h.clock.now().addingTimeInterval(600)))
        _ = await client.shutdown(deadline: Date())
    }

    /// A Retry-After pause is kept as a time of day (state.json keeps it
    /// across launches), so a clock set back during it would stretch it by
    /// as much. Wherever it is checked it is bounded again: never longer
    /// than maxRetryAfter from now.
    func testAClockSetBackNeverStretchesAPauseBeyondMaxRetryAfter() async throws {
        let h = Harness()
        h.transport.answer { n, r in n == 0 ? .error(503, "overloaded", retryAfter: "60") : .accepted(r.eventIDs.count) }
        let client = try h.client { $0.maxRetryAfter = 60 }
        client.track("e")
        let paused = await client.flush()
        XCTAssertEqual(paused.blocker, .paused(until: h.clock.now().addingTimeInterval(60)))
        h.clock.advance(-3600) // the user sets the clock back an hour
        let again = await client.flush()
        XCTAssertEqual(again.blocker, .paused(until: h.clock.now().addingTimeInterval(60)), "at most maxRetryAfter from now")
        h.clock.advance(61)
        let done = await client.flush()
        XCTAssertTrue(done.isComplete, "61 s later with a 60 s maximum: \(done)")
        XCTAssertEqual(h.transport.sent.count, 2)
        _ = await client.shutdown(deadline: Date())
    }

    /// The same for a backoff: never longer from now than the attempt's
    /// ceiling, min(retryMaxDelay, retryBaseDelay · 2^(n−1)).
    func testAClockSetBackNeverStretchesABackoffBeyondItsCeiling() async throws {
        let h = Harness()
        h.transport.answer { n, r in n < 3 ? .error(500, "internal") : .accepted(r.eventIDs.count) }
        let client = try h.client()
        client.track("e")
        for wait in [0.5, 1] { // 0.5 · min(60, 1 · 2^(n−1))
            let r = await client.flush()
            XCTAssertEqual(r.blocker, .backoff(until: h.clock.now().addingTimeInterval(wait)))
            h.clock.advance(wait)
        }
        let third = await client.flush() // the third failure: a wait of 2, at most 4
        XCTAssertEqual(third.blocker, .backoff(until: h.clock.now().addingTimeInterval(2)))
        h.clock.advance(-3600)
        let again = await client.flush()
        XCTAssertEqual(again.blocker, .backoff(until: h.clock.now().addingTimeInterval(4)), "at most the ceiling from now")
        h.clock.advance(4)
        let done = await client.flush()
        XCTAssertTrue(done.isComplete, "\(done)")
        XCTAssertEqual(h.transport.sent.count, 4)
        _ = await client.shutdown(deadline: Date())
    }

    func test503WithoutRetryAfterBacksOff() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(503, "publish_failed") }
        let client = try h.client()
        client.track("e")
        let r = await client.flush()
        XCTAssertEqual(r.blocker, .backoff(until: h.clock.now().addingTimeInterval(0.5)))
        _ = await client.shutdown(deadline: Date())
    }

    func testA200ThatIsNotTheServersAnswerIsNotDelivery() async throws {
        let h = Harness()
        h.transport.answer { _, _ in UploadResponse(status: 200, headers: ["Content-Type": "text/html"], body: Data("<html>Sign in to Wi-Fi</html>".utf8)) }
        let client = try h.client()
        client.track("e")
        let r = await client.flush()
        XCTAssertEqual(r.remaining, 1)
        XCTAssertNotNil(r.blocker)
        XCTAssertEqual(client.counters.delivered, 0)
        _ = await client.shutdown(deadline: Date())
    }

    /// A 400 or 415 that is not the service's answer (a proxy's, a load
    /// balancer's or a captive portal's page) says nothing about the events:
    /// the batch is retried, never dropped, and the queue behind it is kept.
    func testA400Or415ThatIsNotTheServersAnswerKeepsTheQueue() async throws {
        let h = Harness()
        let page: @Sendable (Int) -> UploadResponse = { status in
            UploadResponse(status: status, headers: ["Content-Type": "text/html"],
                           body: Data("<html><center><h1>\(status) Bad Request</h1></center><hr><center>nginx</center></html>".utf8))
        }
        h.transport.answer { _, _ in page(400) }
        let client = try h.client { $0.maxBatchEvents = 10 }
        let ids = (0..<30).compactMap { client.track("e\($0)") }
        let r = await client.flush()
        XCTAssertEqual(r, FlushResult(remaining: 30, blocker: .backoff(until: h.clock.now().addingTimeInterval(0.5))))
        h.clock.advance(0.5)
        h.transport.answer { _, _ in page(415) }
        let r415 = await client.flush()
        XCTAssertEqual(r415.remaining, 30)
        XCTAssertEqual(client.counters.rejected, 0, "nothing reported refused: the service never saw the events")
        XCTAssertEqual(h.reports.rejected, [])
        XCTAssertEqual(h.transport.sent.map(\.eventIDs), [Array(ids.prefix(10)), Array(ids.prefix(10))], "no batch after the first")
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        h.clock.advance(3600)
        let done = await client.flush()
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(client.counters.delivered, 30)
        XCTAssertEqual(h.transport.sent.dropFirst(2).flatMap(\.eventIDs), ids)
        _ = await client.shutdown(deadline: Date())
    }

    /// A batch that failed is sent again exactly: events queued since join
    /// a later request, so the server recognises the retry by its event ids
    /// (ingest answers a stored one with `duplicates` and stores it once).
    func testARetrySendsExactlyTheBatchThatFailed() async throws {
        let h = Harness()
        h.transport.answer { n, r in
            if n == 0 { throw URLError(.networkConnectionLost) } // the answer was lost, maybe after the server stored it
            return .accepted(r.eventIDs.count)
        }
        let client = try h.client()
        let first = (0..<20).compactMap { client.track("a\($0)") }
        _ = await client.flush()
        let later = (0..<5).compactMap { client.track("b\($0)") }
        h.clock.advance(0.5)
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(h.transport.sent.map(\.eventIDs), [first, first, later])
        _ = await client.shutdown(deadline: Date())
    }

    /// The same across a relaunch, after a 503 with Retry-After ("then sends the same batch").
    func testARetryAfterARelaunchSendsExactlyTheBatchThatFailed() async throws {
        let h = Harness()
        h.transport.answer { n, r in n == 0 ? .error(503, "publish_failed", retryAfter: "2") : .accepted(r.eventIDs.count) }
        var client = try h.client()
        let first = (0..<20).compactMap { client.track("a\($0)") }
        _ = await client.flush()
        _ = await client.shutdown(deadline: Date())
        client = try h.client()
        let later = (0..<5).compactMap { client.track("b\($0)") }
        h.clock.advance(2)
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(h.transport.sent.map(\.eventIDs), [first, first, later])
        _ = await client.shutdown(deadline: Date())
    }

    func test413SplitsUntilTheOneTooLargeEventIsAloneThenDropsAndReportsIt() async throws {
        let h = Harness()
        h.transport.answer { _, r in
            let big = (0..<r.events.count).contains { (r.event($0)["metadata"] as? [String: Any])?["big"] != nil }
            return big ? .error(413, "body_too_large") : .accepted(r.eventIDs.count)
        }
        let client = try h.client()
        var ids: [String] = []
        for i in 0..<8 { ids.append(client.track("e\(i)", metadata: i == 5 ? ["big": true] : [:])!) }
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        let sizes = h.transport.sent.map(\.eventIDs.count)
        // 8 refused; 4 sent; 4 refused; 2 refused; then one at a time until the refused batch is through.
        XCTAssertEqual(sizes, [8, 4, 4, 2, 1, 1, 1, 1], "halves until the big event is alone")
        XCTAssertEqual(client.counters.delivered, 7)
        XCTAssertEqual(client.counters.rejected, 1)
        XCTAssertEqual(h.reports.rejected, [RejectedEvent(eventID: ids[5], eventName: "e5", field: "(event)",
                                                          message: "body_too_large message", status: 413, code: "body_too_large")])
        let delivered = h.transport.sent.filter { !$0.eventIDs.contains(ids[5]) }.flatMap(\.eventIDs)
        XCTAssertEqual(delivered, ids.filter { $0 != ids[5] }, "every other event once, in order")
        // The split applies to the refused batch only: the next one is whole again.
        for i in 0..<10 { client.track("later\(i)") }
        _ = await client.flush()
        XCTAssertEqual(h.transport.sent.last?.eventIDs.count, 10)
        _ = await client.shutdown(deadline: Date())
    }

    func testBatchesRespectTheServersLimits() async throws {
        let h = Harness()
        let client = try h.client { $0.maxBatchEvents = 1000; $0.maxQueuedEvents = 100_000 }
        let text = String(repeating: "x", count: 4000)
        for i in 0..<1500 { client.track("e\(i)", message: i < 600 ? text : nil) }
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        for s in h.transport.sent {
            XCTAssertLessThanOrEqual(s.eventIDs.count, 1000)
            XCTAssertLessThanOrEqual(s.json.count, 1_000_000, "uncompressed under 1 MB, so gzip stays under 1 MiB")
            XCTAssertEqual(s.headers["Content-Encoding"], "gzip")
            XCTAssertEqual(s.headers["Content-Type"], "application/json")
            XCTAssertEqual(s.headers["Authorization"], "Bearer " + testKey)
        }
        XCTAssertEqual(h.transport.sent.flatMap(\.eventIDs).count, 1500)
        XCTAssertGreaterThan(h.transport.sent.count, 2)
        _ = await client.shutdown(deadline: Date())
    }

    func testFlushOnCount() async throws {
        let h = Harness()
        let client = try h.client { $0.flushAt = 20 }
        for i in 0..<19 { client.track("e\(i)") }
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(h.transport.sent.count, 0, "19 queued: no upload yet")
        client.track("e19")
        await eventually("an upload at 20 events") { h.transport.sent.count == 1 }
        XCTAssertEqual(h.transport.sent.first?.eventIDs.count, 20)
        _ = await client.shutdown(deadline: Date())
    }

    func testFlushOnInterval() async throws {
        let h = Harness()
        let client = try h.client { $0.flushInterval = 0.2 }
        client.track("e")
        await eventually("an upload after the interval") { h.transport.sent.count == 1 }
        _ = await client.shutdown(deadline: Date())
    }

    func testFlushWhenTheAppGoesToTheBackground() async throws {
        let h = Harness()
        let client = try h.client()
        client.track("e")
        client.applicationDidEnterBackground()
        await eventually("an upload on entering the background") { h.transport.sent.count == 1 }
        _ = await client.shutdown(deadline: Date())
    }

    func testFlushCompletionHandler() async throws {
        let h = Harness()
        let client = try h.client()
        client.track("e")
        let done = expectation(description: "completion")
        client.flush { r in
            XCTAssertTrue(r.isComplete)
            done.fulfill()
        }
        await fulfillment(of: [done], timeout: 5)
        _ = await client.shutdown(deadline: Date())
    }

    func testOneRequestInFlight() async throws {
        let h = Harness()
        h.transport.answer { _, r in
            try await Task.sleep(nanoseconds: 20_000_000)
            return .accepted(r.eventIDs.count)
        }
        let client = try h.client { $0.flushAt = 5; $0.maxBatchEvents = 10 }
        await withTaskGroup(of: Void.self) { g in
            for t in 0..<4 {
                g.addTask {
                    for i in 0..<100 {
                        client.track("t\(t)-\(i)")
                        if i % 25 == 0 { _ = await client.flush() }
                    }
                }
            }
        }
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(h.transport.maxInFlight, 1)
        XCTAssertEqual(client.counters.delivered, 400)
        _ = await client.shutdown(deadline: Date())
    }

    func testShutdownDeadlineCancelsTheRequestAndKeepsItsEvents() async throws {
        let h = Harness()
        h.transport.answer { _, _ in
            try await Task.sleep(nanoseconds: 60_000_000_000) // a request that hangs
            return .error(500, "never")
        }
        var client = try h.client()
        let ids = (0..<5).compactMap { client.track("e\($0)") }
        let start = Date()
        let r = await client.shutdown(deadline: Date().addingTimeInterval(0.3))
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        XCTAssertEqual(r, FlushResult(remaining: 5, blocker: .stopped))
        XCTAssertEqual(client.counters.retries, 0, "a cancelled request is not a failure")
        XCTAssertNil(client.track("after shutdown"), "a shut-down client queues nothing")

        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        client = try h.client()
        let done = await client.flush()
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(h.transport.sent.last?.eventIDs, ids, "the next launch sends them")
        _ = await client.shutdown(deadline: Date())
    }

    func testOneFolderOneClient() async throws {
        let h = Harness()
        let a = try h.client()
        XCTAssertThrowsError(try h.client()) { XCTAssertEqual($0 as? EvtrackError, .storageInUse(h.dir.path)) }
        _ = await a.shutdown(deadline: Date())
        let b = try h.client()
        _ = await b.shutdown(deadline: Date())
    }
}
