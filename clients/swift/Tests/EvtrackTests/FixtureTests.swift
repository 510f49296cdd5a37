import Foundation
import XCTest
@testable import Evtrack

/// The golden exchanges of contracts/fixtures/track, which the ingest tests
/// check against a real server (services/ingest/service/fixtures_test.go):
/// here the SDK decodes them with its own wire types, encodes events as they
/// do, and is driven through each answer.
final class FixtureTests: XCTestCase {
    struct Fixture {
        var name: String
        var request: [String: Any]
        var response: [String: Any]
        var status: Int { response["status"] as! Int }
        var responseHeaders: [String: String] { response["headers"] as? [String: String] ?? [:] }
        var responseBody: Data { try! JSONSerialization.data(withJSONObject: response["body"]!) }
        var events: [[String: Any]] { ((request["body"] as? [String: Any])?["events"] as? [[String: Any]]) ?? [] }
        var uploadResponse: UploadResponse { UploadResponse(status: status, headers: responseHeaders, body: responseBody) }
    }

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("contracts/fixtures/track")

    static func load() throws -> [Fixture] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { n in
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(n))) as! [String: Any]
            XCTAssertTrue(Set(o.keys).isSubset(of: ["description", "server_env", "setup", "request", "response"]), n)
            return Fixture(name: String(n.dropLast(5)), request: o["request"] as! [String: Any], response: o["response"] as! [String: Any])
        }
    }

    /// The fields the SDK sends (contracts/proto/telemetry/v1/event.proto, JSON names).
    static let sdkFields: Set<String> = ["event_id", "event_name", "client_timestamp", "anonymous_id", "user_id", "session_id",
                                         "app_version", "device_os", "os_name", "os_version", "device_model", "locale",
                                         "timezone", "sdk_name", "sdk_version", "metadata", "message"]

    func testFixturesCoverEveryStatusTheClientHandles() throws {
        let all = try Self.load()
        XCTAssertEqual(Set(all.map(\.status)), [202, 400, 401, 413, 415, 429, 503])
        XCTAssertGreaterThanOrEqual(all.count, 11)
    }

    /// Every answer decodes into the SDK's own types and means what the
    /// README says; every event in a request uses only fields the SDK sends.
    func testFixturesDecodeIntoTheSDKsWireTypes() throws {
        for f in try Self.load() {
            let answer = ServerAnswer.classify(f.uploadResponse, batchCount: max(f.events.count, 1), now: Date())
            switch (f.status, answer) {
            case (202, .settled(let r, 202)), (400, .settled(let r, 400)):
                let body = f.response["body"] as! [String: Any]
                XCTAssertEqual(r.accepted, body["accepted"] as? Int, f.name)
                XCTAssertEqual(r.duplicates, body["duplicates"] as? Int, f.name)
                XCTAssertEqual(r.rejected, (r.errors ?? []).count, f.name)
                XCTAssertEqual(r.accepted + r.rejected + r.duplicates, f.events.count, "\(f.name): every event has a fate")
                for e in r.errors ?? [] {
                    XCTAssertEqual(e.eventID, f.events[e.index]["event_id"] as? String, f.name)
                    XCTAssertFalse(e.field.isEmpty || e.message.isEmpty, f.name)
                }
            case (400, .dropBatch(400, let code, let message)), (415, .dropBatch(415, let code, let message)):
                let e = try JSONDecoder().decode(ErrorBody.self, from: f.responseBody)
                XCTAssertEqual([code, message], [e.error.code, e.error.message], f.name)
            case (401, .unauthorized):
                XCTAssertNotNil(f.uploadResponse.header("www-authenticate"), f.name)
            case (413, .split(let code, _)):
                XCTAssertTrue(["too_many_events", "body_too_large", "batch_too_large", "too_many_values"].contains(code), f.name)
            case (429, .pause(429, "rate_limited", let after?)), (503, .pause(503, _, let after?)):
                XCTAssertEqual(after, TimeInterval(f.responseHeaders["Retry-After"]!)!, f.name)
            default:
                XCTFail("\(f.name): \(f.status) classified as \(answer)")
            }
            for e in f.events {
                XCTAssertTrue(Set(e.keys).isSubset(of: Self.sdkFields), "\(f.name): \(Set(e.keys).subtracting(Self.sdkFields))")
            }
        }
    }

    /// The SDK's encoder produces the fixture's accepted events byte for
    /// value, and its envelope the fixture's body: what the server accepted
    /// in TestTrackFixtures is what the SDK sends.
    func testSDKEncodesEventsAndEnvelopeAsTheFixture() async throws {
        let f = try XCTUnwrap(try Self.load().first { $0.name == "202_accepted" })
        XCTAssertEqual(f.request["gzip"] as? Bool, true)
        XCTAssertEqual((f.request["headers"] as? [String: String])?["Content-Encoding"], "gzip")
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var records: [ArraySlice<UInt8>] = []
        for e in f.events {
            let identity = Identity(anonymousID: e["anonymous_id"] as! String, userID: e["user_id"] as? String,
                                    sessionID: e["session_id"] as! String, lastActiveMs: 0, backgroundedAtMs: nil, optedOut: false)
            var ctx = EventContext(appVersion: e["app_version"] as? String, osName: e["os_name"] as? String,
                                   osVersion: e["os_version"] as? String, deviceModel: e["device_model"] as? String,
                                   locale: e["locale"] as? String, timezone: e["timezone"] as? String)
            ctx.deviceOS = e["device_os"] as? String
            XCTAssertEqual(e["sdk_name"] as? String, Evtrack.sdkName)
            XCTAssertEqual(e["sdk_version"] as? String, Evtrack.sdkVersion)
            var metadata = Metadata()
            for (k, v) in e["metadata"] as? [String: Any] ?? [:] {
                switch v {
                case let s as String: metadata[k] = .string(s)
                case let n as NSNumber where String(cString: n.objCType) == "c": metadata[k] = .bool(n.boolValue)
                case let n as NSNumber where n.stringValue.contains("."): metadata[k] = .double(n.doubleValue)
                case let n as NSNumber: metadata[k] = .int(n.intValue)
                default: XCTFail("metadata \(k)")
                }
            }
            let ms = Timestamp.ms(iso.date(from: e["client_timestamp"] as! String)!)
            let json = EventEncoder.encode(id: e["event_id"] as! String, name: e["event_name"] as! String, ms: ms,
                                           identity: identity.encoded().0, context: ctx.encoded(),
                                           metadata: metadata, message: e["message"] as? String)
            XCTAssertEqual(try canonical(Data(json)), try canonical(JSONSerialization.data(withJSONObject: e)))
            records.append(json[...])
        }
        let sentAt = Timestamp.ms(iso.date(from: (f.request["body"] as! [String: Any])["sent_at"] as! String)!)
        let body = await Pipeline.body(records, sentAtMs: sentAt, gzip: true)
        let plain = try XCTUnwrap(Gzip.decompress(body))
        XCTAssertEqual(try canonical(plain), try canonical(JSONSerialization.data(withJSONObject: f.request["body"]!)))
    }

    /// Each fixture's answer given to a client that sent the fixture's events.
    func testClientFollowsEveryFixtureAnswer() async throws {
        for f in try Self.load() {
            try await drive(f)
        }
    }

    private func drive(_ f: Fixture) async throws {
        let h = Harness()
        let answer = f.uploadResponse
        h.transport.answer { n, r in n == 0 ? answer : .accepted(r.eventIDs.count) }
        let client = try h.client()
        var events = f.events.map { try! JSONSerialization.data(withJSONObject: $0) }
        if events.isEmpty { // body_text: any two events
            client.track("a")
            client.track("b")
            events = []
        }
        for e in events { client.enqueueRaw([UInt8](e)) }
        let n = events.isEmpty ? 2 : events.count
        let first = await client.flush()
        let sent = h.transport.sent
        XCTAssertGreaterThanOrEqual(sent.count, 1, f.name)
        if !events.isEmpty {
            XCTAssertEqual(try sent[0].events.map(canonical), try events.map(canonical), "\(f.name): the fixture's events, unchanged")
        }
        let c = client.counters
        let result = try? JSONDecoder().decode(TrackResult.self, from: f.responseBody)
        switch f.status {
        case _ where result != nil:
            let r = result!
            XCTAssertTrue(first.isComplete, f.name)
            XCTAssertEqual(sent.count, 1, f.name)
            XCTAssertEqual(c.delivered, n - r.rejected, f.name)
            XCTAssertEqual(c.duplicates, r.duplicates, f.name)
            XCTAssertEqual(c.rejected, r.rejected, f.name)
            XCTAssertEqual(h.reports.rejected.map { [$0.eventID, $0.field, $0.message] },
                           (r.errors ?? []).map { [$0.eventID!, $0.field, $0.message] }, f.name)
            XCTAssertTrue(h.reports.rejected.allSatisfy { $0.status == f.status }, f.name)
        case 400, 415:
            let e = try JSONDecoder().decode(ErrorBody.self, from: f.responseBody)
            XCTAssertTrue(first.isComplete, f.name)
            XCTAssertEqual(c.rejected, n, f.name)
            XCTAssertEqual(c.delivered, 0, f.name)
            XCTAssertEqual(h.reports.rejected.count, n, f.name)
            XCTAssertTrue(h.reports.rejected.allSatisfy { $0.code == e.error.code && $0.status == f.status && $0.field == "(batch)" }, f.name)
        case 401:
            XCTAssertEqual(first, FlushResult(remaining: n, blocker: .unauthorized), f.name)
            let again = await client.flush()
            XCTAssertEqual(again.blocker, .unauthorized, f.name)
            XCTAssertEqual(h.transport.sent.count, 1, "\(f.name): no request while the key is refused")
            client.setWriteKey("another-write-key-0123456789")
            await eventually("delivered after the key changed") { client.counters.delivered == n }
            XCTAssertEqual(h.transport.sent.last?.headers["Authorization"], "Bearer another-write-key-0123456789")
            XCTAssertEqual(h.transport.sent.last?.eventIDs, sent[0].eventIDs, f.name)
        case 413:
            XCTAssertTrue(first.isComplete, f.name)
            XCTAssertEqual(c.delivered, n, f.name)
            XCTAssertEqual(c.rejected, 0, f.name)
            let sizes = h.transport.sent.map(\.eventIDs.count)
            XCTAssertEqual(sizes.first, n, f.name)
            XCTAssertTrue(sizes.dropFirst().allSatisfy { $0 <= n / 2 }, "\(f.name): split into halves: \(sizes)")
            XCTAssertEqual(h.transport.sent.dropFirst().flatMap(\.eventIDs), sent[0].eventIDs, "\(f.name): in order, once each")
        case 429, 503:
            let wait = TimeInterval(f.responseHeaders["Retry-After"]!)!
            XCTAssertEqual(first, FlushResult(remaining: n, blocker: .paused(until: h.clock.now().addingTimeInterval(wait))), f.name)
            XCTAssertEqual(c.retries, 1, f.name)
            h.clock.advance(wait - 0.5)
            let early = await client.flush()
            XCTAssertNotNil(early.blocker, f.name)
            XCTAssertEqual(h.transport.sent.count, 1, "\(f.name): nothing sent before Retry-After")
            h.clock.advance(0.5)
            let done = await client.flush()
            XCTAssertTrue(done.isComplete, f.name)
            let retry = h.transport.sent[1]
            XCTAssertEqual(try retry.events.map(canonical), try sent[0].events.map(canonical), "\(f.name): the same events, same ids and timestamps")
            XCTAssertNotEqual(retry.sentAt, sent[0].sentAt, "\(f.name): sent_at set on each attempt")
        default:
            XCTFail("no expectation for \(f.name)")
        }
        _ = await client.shutdown(deadline: Date().addingTimeInterval(1))
    }
}

/// JSON with sorted keys, for comparing objects.
func canonical(_ d: Data) throws -> Data {
    try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: d), options: [.sortedKeys])
}
