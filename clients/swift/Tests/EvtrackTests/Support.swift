import Foundation
import XCTest
@testable import Evtrack

let testKey = "test-write-key-0123456789"

/// A clock the test moves: the device's clock, the uptime and the true time
/// (the server's). Time passing moves all three; a person changing the
/// device's clock moves only the first.
final class TestClock: Sendable {
    private static let start = Date(timeIntervalSince1970: 1_764_151_200) // 2025-11-26T10:00:00Z
    private let t = Locked((device: start, elapsed: TimeInterval(0)))
    func now() -> Date { t.withLock { $0.device } }
    func uptime() -> TimeInterval { t.withLock { 1000 + $0.elapsed } }
    func trueNow() -> Date { t.withLock { Self.start.addingTimeInterval($0.elapsed) } }
    func advance(_ seconds: TimeInterval) {
        t.withLock {
            $0.device += seconds
            $0.elapsed += seconds
        }
    }
    /// The device's clock set forward (or back, negative) by seconds.
    func setDeviceClock(by seconds: TimeInterval) { t.withLock { $0.device += seconds } }
}

/// An IMF-fixdate, as in an HTTP `Date` header.
func httpDate(_ d: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "GMT")
    f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    return f.string(from: d)
}

/// A request as the server would read it.
struct SentRequest: Sendable {
    var headers: [String: String]
    var json: Data
    var sentAt: String
    var eventIDs: [String]
    var events: [Data] // each event's JSON object

    func event(_ i: Int) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: events[i])) as? [String: Any] ?? [:]
    }
}

/// A transport that records what it is sent and answers from a script.
final class ScriptedTransport: Transport, @unchecked Sendable {
    typealias Handler = @Sendable (_ n: Int, _ request: SentRequest) async throws -> UploadResponse
    private let lock = NSLock()
    private var _sent: [SentRequest] = []
    private var handler: Handler
    private var inFlight = 0
    private(set) var maxInFlight = 0
    /// The server's clock: every answer without a `Date` gets one from it,
    /// as a server's does. nil: answers carry no `Date`.
    var serverTime: (@Sendable () -> Date)?

    init(_ handler: @escaping Handler = { _, r in .accepted(r.eventIDs.count) }) {
        self.handler = handler
    }

    var sent: [SentRequest] { lock.withLock { _sent } }
    func answer(_ h: @escaping Handler) { lock.withLock { handler = h } }

    func send(_ request: UploadRequest) async throws -> UploadResponse {
        let raw = request.headers["Content-Encoding"] == "gzip" ? Gzip.decompress(request.body)! : request.body
        let o = try JSONSerialization.jsonObject(with: raw) as! [String: Any]
        let events = (o["events"] as! [Any]).map { try! JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        let ids = (o["events"] as! [[String: Any]]).map { $0["event_id"] as! String }
        let r = SentRequest(headers: request.headers, json: raw, sentAt: o["sent_at"] as! String, eventIDs: ids, events: events)
        let (n, h) = lock.withLock { () -> (Int, Handler) in
            _sent.append(r)
            inFlight += 1
            maxInFlight = max(maxInFlight, inFlight)
            return (_sent.count - 1, handler)
        }
        defer { lock.withLock { inFlight -= 1 } }
        var answer = try await h(n, r)
        if let now = serverTime, answer.header("Date") == nil { answer.headers["date"] = httpDate(now()) }
        return answer
    }
}

extension UploadResponse {
    static func json(_ status: Int, _ body: String, headers: [String: String] = [:]) -> UploadResponse {
        UploadResponse(status: status, headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a }, body: Data(body.utf8))
    }

    static func accepted(_ n: Int, duplicates: Int = 0) -> UploadResponse {
        .json(202, #"{"accepted":\#(n - duplicates),"rejected":0,"duplicates":\#(duplicates),"errors":[]}"#)
    }

    static func error(_ status: Int, _ code: String, retryAfter: String? = nil) -> UploadResponse {
        .json(status, #"{"error":{"code":"\#(code)","message":"\#(code) message"}}"#, headers: retryAfter.map { ["Retry-After": $0] } ?? [:])
    }
}

/// Collects what the client reports.
final class Reports: @unchecked Sendable {
    private let lock = NSLock()
    private var _rejected: [RejectedEvent] = []
    private var _logs: [String] = []
    var rejected: [RejectedEvent] { lock.withLock { _rejected } }
    var logs: [String] { lock.withLock { _logs } }
    func add(_ r: [RejectedEvent]) { lock.withLock { _rejected += r } }
    func log(_ l: LogLevel, _ m: String) { lock.withLock { _logs.append("\(l): \(m)") } }
}

func temporaryDirectory() -> URL {
    let u = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evtrack-test-" + UUID().uuidString)
    try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

struct Harness {
    let dir: URL
    let clock: TestClock
    let transport: ScriptedTransport
    let reports: Reports

    init(dir: URL = temporaryDirectory(), clock: TestClock = TestClock(), transport: ScriptedTransport = ScriptedTransport()) {
        self.dir = dir
        self.clock = clock
        self.transport = transport
        reports = Reports()
        if transport.serverTime == nil { transport.serverTime = { clock.trueNow() } }
    }

    func configuration(_ tweak: (inout Configuration) -> Void = { _ in }) -> Configuration {
        var c = Configuration(writeKey: testKey, endpoint: URL(string: "http://127.0.0.1:9")!)
        c.storageDirectory = dir
        c.transport = transport
        c.flushAt = 1_000_000 // tests flush explicitly unless they test a trigger
        c.flushInterval = 3600
        c.observesAppLifecycle = false
        c.retryBaseDelay = 1
        c.retryMaxDelay = 60
        c.context = EventContext(appVersion: "3.1.0", osName: "Linux", osVersion: "6.1", deviceModel: "test-rig",
                                 locale: "en-GB", timezone: "Europe/London")
        let clock = self.clock
        c.now = { clock.now() }
        c.uptime = { clock.uptime() }
        c.random = { 0.5 }
        let reports = self.reports
        c.onRejected = { reports.add($0) }
        c.logger = { reports.log($0, $1) }
        c.logLevel = .debug
        tweak(&c)
        return c
    }

    func client(_ tweak: (inout Configuration) -> Void = { _ in }) throws -> Evtrack {
        try Evtrack(configuration: configuration(tweak))
    }
}

/// Waits for cond to hold (polling), failing the test after timeout seconds.
func eventually(_ what: String, timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line,
                _ cond: @Sendable () async -> Bool) async {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if await cond() { return }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    XCTFail("timed out waiting for: \(what)", file: file, line: line)
}

/// The files of a folder, recursively, relative to it.
func files(in dir: URL, _ sub: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(sub).path)) ?? []).sorted()
}
