import Foundation
import XCTest
@testable import Evtrack

/// Many producers, identity, sessions, opt-out, what an event looks like.
final class ClientTests: XCTestCase {
    /// A server that stores event ids as ingest does: a repeat is a duplicate.
    final class StoringServer: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var stored: [String: Int] = [:]
        private(set) var attempts: [String: [Bool]] = [:] // per event: outcome of each request carrying it

        func handle(_ n: Int, _ r: SentRequest, fail: Bool) -> UploadResponse {
            lock.withLock {
                for id in r.eventIDs { attempts[id, default: []].append(!fail) }
                if fail { return .error(500, "internal") }
                var dup = 0
                for id in r.eventIDs {
                    if stored[id] != nil { dup += 1 }
                    stored[id, default: 0] += 1
                }
                return .accepted(r.eventIDs.count, duplicates: dup)
            }
        }
    }

    func testManyProducersAtOnceLoseAndDoubleNothing() async throws {
        let h = Harness()
        let server = StoringServer()
        h.transport.answer { n, r in server.handle(n, r, fail: n % 7 == 3) } // every 7th request fails
        let client = try h.client { $0.flushAt = 50; $0.maxBatchEvents = 100; $0.maxQueuedEvents = 100_000; $0.retryBaseDelay = 0.001; $0.retryMaxDelay = 0.002 }
        let producers = 8, each = 2_000
        let tracked = await withTaskGroup(of: [String].self) { g -> [String] in
            for p in 0..<producers {
                g.addTask {
                    var ids: [String] = []
                    for i in 0..<each {
                        ids.append(client.track("p\(p)", metadata: ["i": .int(i)])!)
                        if i % 500 == 0 { await Task.yield() }
                    }
                    return ids
                }
            }
            var all: [String] = []
            for await ids in g { all += ids }
            return all
        }
        XCTAssertEqual(Set(tracked).count, producers * each, "every event_id unique")
        var r = await client.flush()
        for _ in 0..<1000 where !r.isComplete {
            h.clock.advance(1)
            r = await client.flush()
        }
        XCTAssertTrue(r.isComplete, "\(r)")
        XCTAssertEqual(Set(server.stored.keys), Set(tracked), "nothing lost")
        XCTAssertEqual(client.counters.delivered, producers * each)
        XCTAssertEqual(client.counters.queued, producers * each)
        for (id, outcomes) in server.attempts {
            // Sent again only after a failed attempt; stored by exactly one successful one.
            XCTAssertEqual(outcomes.filter { $0 }.count, 1, "event \(id): \(outcomes)")
            XCTAssertEqual(outcomes.last, true)
        }
        XCTAssertTrue(server.stored.values.allSatisfy { $0 == 1 }, "nothing doubled")
        XCTAssertEqual(h.transport.maxInFlight, 1)
        // Each producer's events arrive in the order it tracked them.
        let order = h.transport.sent.filter { $0.eventIDs.allSatisfy { server.attempts[$0]?.last == true } }
        let seen = order.flatMap(\.eventIDs)
        var pos: [String: Int] = [:]
        for (i, id) in seen.enumerated() where pos[id] == nil { pos[id] = i }
        for p in 0..<producers {
            let mine = tracked[(p * each)..<((p + 1) * each)]
            let positions = mine.compactMap { pos[$0] }
            XCTAssertEqual(positions.count, each)
        }
        _ = await client.shutdown(deadline: Date())
    }

    func testTrackWhileShuttingDownLosesNothingQueued() async throws {
        let h = Harness()
        let server = StoringServer()
        h.transport.answer { n, r in server.handle(n, r, fail: false) }
        let client = try h.client { $0.flushAt = 10 }
        let ids = await withTaskGroup(of: [String].self) { g -> [String] in
            for p in 0..<4 {
                g.addTask { (0..<500).compactMap { client.track("p\(p)-\($0)") } }
            }
            g.addTask {
                try? await Task.sleep(nanoseconds: 2_000_000)
                _ = await client.shutdown(deadline: Date().addingTimeInterval(10))
                return []
            }
            var all: [String] = []
            for await x in g { all += x }
            return all
        }
        // What track accepted before the shutdown is either delivered or still queued on disk.
        let again = try h.client()
        let r = await again.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(Set(server.stored.keys), Set(ids))
        XCTAssertTrue(server.stored.values.allSatisfy { $0 == 1 })
        _ = await again.shutdown(deadline: Date())
    }

    func testEventsCarryContextAsTopLevelFields() async throws {
        let h = Harness()
        let client = try h.client()
        client.identify(userID: "user-42")
        let id = client.track("checkout", metadata: ["plan": "pro", "items": 3, "ratio": 0.25, "trial": false], message: "paid")
        _ = await client.flush()
        let e = h.transport.sent[0].event(0)
        XCTAssertEqual(e["event_id"] as? String, id)
        XCTAssertEqual(e["event_name"] as? String, "checkout")
        XCTAssertEqual(e["user_id"] as? String, "user-42")
        XCTAssertEqual(e["anonymous_id"] as? String, client.anonymousID)
        XCTAssertEqual(e["session_id"] as? String, client.sessionID)
        XCTAssertEqual(e["app_version"] as? String, "3.1.0")
        XCTAssertEqual(e["device_os"] as? String, "Linux 6.1")
        XCTAssertEqual(e["os_name"] as? String, "Linux")
        XCTAssertEqual(e["os_version"] as? String, "6.1")
        XCTAssertEqual(e["device_model"] as? String, "test-rig")
        XCTAssertEqual(e["locale"] as? String, "en-GB")
        XCTAssertEqual(e["timezone"] as? String, "Europe/London")
        XCTAssertEqual(e["sdk_name"] as? String, "evtrack-swift")
        XCTAssertEqual(e["sdk_version"] as? String, Evtrack.sdkVersion)
        XCTAssertEqual(e["message"] as? String, "paid")
        XCTAssertEqual(e["client_timestamp"] as? String, "2025-11-26T10:00:00.000Z")
        let raw = String(decoding: h.transport.sent[0].json, as: UTF8.self)
        XCTAssertTrue(raw.contains(#""metadata":{"items":3,"plan":"pro","ratio":0.25,"trial":false}"#), raw)
        XCTAssertTrue(raw.hasPrefix(#"{"sent_at":"2025-11-26T10:00:00.000Z","events":["#), raw)
        _ = await client.shutdown(deadline: Date())
    }

    func testEventIDIsUUIDv7AndTimestampIsRFC3339() throws {
        let ms: Int64 = 1_764_151_200_123
        let id = UUIDv7.make(ms: ms)
        XCTAssertEqual(id.count, 36)
        XCTAssertTrue(id.hasPrefix("019abf"), id)
        let hex = id.replacingOccurrences(of: "-", with: "")
        XCTAssertEqual(Int64(hex.prefix(12), radix: 16), ms, "48-bit Unix milliseconds")
        XCTAssertEqual(Array(hex)[12], "7", "version 7")
        XCTAssertTrue("89ab".contains(Array(hex)[16]), "RFC 9562 variant")
        XCTAssertNotEqual(UUIDv7.make(ms: ms), UUIDv7.make(ms: ms))
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for ms: Int64 in [0, 951_782_400_000, 1_764_151_200_123, 4_102_444_799_999, 1_709_164_800_001] {
            XCTAssertEqual(Timestamp.rfc3339(ms: ms), iso.string(from: Date(timeIntervalSince1970: Double(ms) / 1000)), "\(ms)")
        }
    }

    func testJSONEscaping() throws {
        var b = JSONBuffer()
        b.string("a\"b\\c\n\t\u{1}é😀")
        XCTAssertEqual(String(decoding: b.bytes, as: UTF8.self), #""a\"b\\c\n\t\u0001é😀""#)
        let v = try JSONSerialization.jsonObject(with: Data(b.bytes), options: .fragmentsAllowed) as? String
        XCTAssertEqual(v, "a\"b\\c\n\t\u{1}é😀")
        var m = JSONBuffer()
        MetadataValue.double(.nan).encode(into: &m)
        XCTAssertEqual(String(decoding: m.bytes, as: UTF8.self), #""nan""#, "JSON has no NaN")
    }

    func testInvalidEventsAreRefusedBeforeQueueingWithTheServersReasons() async throws {
        let h = Harness()
        let client = try h.client()
        XCTAssertNil(client.track(""))
        XCTAssertNil(client.track("tap\u{7}"))
        XCTAssertNil(client.track(String(repeating: "n", count: 201)))
        XCTAssertNil(client.track("e", metadata: Dictionary(uniqueKeysWithValues: (0..<101).map { ("k\($0)", MetadataValue.int($0)) })))
        XCTAssertNil(client.track("e", metadata: [String(repeating: "k", count: 129): 1]))
        XCTAssertNil(client.track("e", message: String(repeating: "m", count: 33_000)))
        XCTAssertNotNil(client.track("e", message: String(repeating: "m", count: 30_000)))
        XCTAssertEqual(h.reports.rejected.map { [$0.field, $0.message] }, [
            ["event_name", "required"], ["event_name", "contains a control character"],
            ["event_name", "longer than 200 characters"], ["metadata", "more than 100 keys"],
            ["metadata", "keys must be 1-128 characters"], ["(event)", "larger than 32768 bytes"],
        ])
        XCTAssertTrue(h.reports.rejected.allSatisfy { $0.status == nil })
        XCTAssertEqual(client.counters.rejected, 6)
        XCTAssertEqual(client.counters.queued, 1)
        XCTAssertFalse(client.identify(userID: "bad\nid"))
        XCTAssertFalse(client.identify(userID: ""))
        XCTAssertNil(client.userID)
        _ = await client.shutdown(deadline: Date())
    }

    func testAnonymousIDIsStableUntilReset() async throws {
        let h = Harness()
        var client = try h.client()
        let anon = client.anonymousID
        XCTAssertNotNil(UUID(uuidString: anon))
        XCTAssertTrue(client.identify(userID: "user-1"))
        _ = await client.shutdown(deadline: Date())
        client = try h.client()
        XCTAssertEqual(client.anonymousID, anon, "kept across launches")
        XCTAssertEqual(client.userID, "user-1")
        let session = client.sessionID
        client.reset()
        XCTAssertNotEqual(client.anonymousID, anon)
        XCTAssertNil(client.userID)
        XCTAssertNotEqual(client.sessionID, session)
        let after = client.anonymousID
        _ = await client.shutdown(deadline: Date())
        client = try h.client()
        XCTAssertEqual(client.anonymousID, after)
        _ = await client.shutdown(deadline: Date())
    }

    func testSessionRollsAfterTimeoutInTheBackground() async throws {
        let h = Harness()
        let client = try h.client()
        let s1 = client.sessionID
        client.applicationDidEnterBackground()
        h.clock.advance(29 * 60)
        client.applicationWillEnterForeground()
        XCTAssertEqual(client.sessionID, s1, "29 minutes away: same session")
        h.clock.advance(3 * 3600) // in the foreground: no timeout
        client.track("still here")
        XCTAssertEqual(client.sessionID, s1)
        client.applicationDidEnterBackground()
        h.clock.advance(30 * 60)
        client.applicationWillEnterForeground()
        let s2 = client.sessionID
        XCTAssertNotEqual(s2, s1, "30 minutes in the background: a new session")
        // Tracked from the background after the timeout (e.g. a background fetch).
        client.applicationDidEnterBackground()
        h.clock.advance(31 * 60)
        client.track("background fetch")
        XCTAssertNotEqual(client.sessionID, s2)
        _ = await client.flush()
        let names = h.transport.sent.flatMap { s in (0..<s.events.count).map { s.event($0) } }
        XCTAssertEqual(names.map { $0["session_id"] as? String }, [s1, client.sessionID])
        _ = await client.shutdown(deadline: Date())
    }

    func testSessionTimeoutIsConfigurableAndAppliesAcrossLaunches() async throws {
        let h = Harness()
        var client = try h.client { $0.sessionTimeout = 60 }
        let s1 = client.sessionID
        client.applicationDidEnterBackground()
        h.clock.advance(61)
        client.applicationWillEnterForeground()
        let s2 = client.sessionID
        XCTAssertNotEqual(s2, s1)
        _ = await client.shutdown(deadline: Date())
        h.clock.advance(30)
        client = try h.client { $0.sessionTimeout = 60 }
        XCTAssertEqual(client.sessionID, s2, "relaunched within the timeout: same session")
        _ = await client.shutdown(deadline: Date())
        h.clock.advance(61)
        client = try h.client { $0.sessionTimeout = 60 }
        XCTAssertNotEqual(client.sessionID, s2, "relaunched after the timeout: a new session")
        _ = await client.shutdown(deadline: Date())
    }

    func testOptOutStopsTrackingAndIsRemembered() async throws {
        let h = Harness()
        var client = try h.client()
        client.track("before")
        client.setOptOut(true)
        XCTAssertNil(client.track("during"))
        _ = await client.shutdown(deadline: Date().addingTimeInterval(5))
        client = try h.client()
        XCTAssertTrue(client.isOptedOut)
        XCTAssertNil(client.track("still out"))
        client.setOptOut(false)
        XCTAssertNotNil(client.track("back in"))
        _ = await client.flush()
        let names = h.transport.sent.flatMap { s in (0..<s.events.count).map { s.event($0)["event_name"] as! String } }
        XCTAssertEqual(names, ["before", "back in"])
        _ = await client.shutdown(deadline: Date())
    }

    func testDebugLogsAndCountersReachTheApp() async throws {
        let h = Harness()
        h.transport.answer { n, r in n == 0 ? .error(500, "internal") : .accepted(r.eventIDs.count, duplicates: 1) }
        let client = try h.client()
        client.track("a")
        client.track("b")
        _ = await client.flush()
        h.clock.advance(1)
        _ = await client.flush()
        XCTAssertEqual(client.counters, {
            var c = Counters()
            c.queued = 2; c.delivered = 2; c.duplicates = 1; c.retries = 1
            return c
        }())
        XCTAssertTrue(h.reports.logs.contains { $0.hasPrefix("warning: upload failed (500 internal)") }, "\(h.reports.logs)")
        XCTAssertTrue(h.reports.logs.contains { $0.hasPrefix("debug: sending 2 events") })
        _ = await client.shutdown(deadline: Date())
    }

    /// The generated table of event.proto's fields (contracts/cmd/fieldgen)
    /// is exactly what the SDK sends: a field added to the contract fails
    /// here until the SDK sends it.
    func testTheSDKSendsEveryFieldOfTheEventContract() {
        XCTAssertEqual(Set(EventFields.all.keys), FixtureTests.sdkFields)
    }

    func testContextValuesAreFittedToTheirFieldsRules() async throws {
        let h = Harness()
        let client = try h.client {
            $0.context = EventContext(appVersion: String(repeating: "9", count: 200), osName: "Linux", osVersion: "6.1",
                                      deviceModel: "rig\u{0}7", locale: "en-GB\n", timezone: "Europe/London")
        }
        client.track("e")
        _ = await client.flush()
        let e = h.transport.sent[0].event(0)
        XCTAssertEqual((e["app_version"] as? String)?.count, 128)
        XCTAssertEqual(e["device_model"] as? String, "rig7")
        XCTAssertEqual(e["locale"] as? String, "en-GB")
        _ = await client.shutdown(deadline: Date())
    }

    func testGzipRoundTrip() {
        let input = Array(String(repeating: "telemetry ", count: 10_000).utf8)
        let z = Gzip.compress(input)!
        XCTAssertLessThan(z.count, input.count / 20)
        XCTAssertEqual([UInt8](Gzip.decompress(z)!), input)
        XCTAssertEqual(Array(z.prefix(2)), [0x1F, 0x8B], "a gzip header")
    }

    func testLocaleIdentifiersBecomeBCP47() {
        XCTAssertEqual(EventContext.bcp47("en_GB"), "en-GB")
        XCTAssertEqual(EventContext.bcp47("en_US_POSIX"), "en-US")
        XCTAssertEqual(EventContext.bcp47("zh-Hant_TW"), "zh-Hant-TW")
        XCTAssertEqual(EventContext.bcp47("de_DE@calendar=gregorian"), "de-DE")
        XCTAssertNil(EventContext.bcp47(""))
        XCTAssertNil(EventContext.bcp47("C"))
        let c = EventContext.current()
        XCTAssertEqual(c.osName, "Linux")
        XCTAssertNotNil(c.osVersion)
        XCTAssertFalse(c.timezone?.isEmpty ?? true)
    }
}
