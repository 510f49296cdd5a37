import Foundation
import XCTest
@testable import Evtrack

/// The disk queue: framing, checksums, atomic renames, the cursor, caps.
final class QueueTests: XCTestCase {
    func events(_ n: Int, from: Int = 0, ms: Int64 = 1_000) -> [PendingEvent] {
        (from..<(from + n)).map { PendingEvent(json: Array(#"{"event_id":"e\#($0)"}"#.utf8), ms: ms + Int64($0)) }
    }

    func ids(_ b: DiskQueue.Batch) -> [String] { b.records.map { String(decoding: $0, as: UTF8.self) } }

    func testEventsSurviveReopeningInOrder() throws {
        let dir = temporaryDirectory().path
        var q = try DiskQueue(directory: dir, fsync: true)
        XCTAssertEqual(q.load(), [])
        try q.append(events(3)[...])
        try q.append(events(2, from: 3)[...])
        q.consume(1)
        q = try DiskQueue(directory: dir, fsync: false)
        XCTAssertEqual(q.load(), [])
        XCTAssertEqual(q.count, 4)
        XCTAssertEqual(ids(q.peek(maxEvents: 10, maxBytes: 1 << 20).0), (1..<5).map { #"{"event_id":"e\#($0)"}"# })
    }

    func testCorruptUnitIsMovedAsideAndDoesNotBlockTheOthers() throws {
        let dir = temporaryDirectory().path
        let q = try DiskQueue(directory: dir, fsync: false)
        _ = q.load()
        for i in 0..<3 { try q.append(events(2, from: 2 * i)[...]) }
        let unit = FileIO.list(q.queueDir).sorted()[1]
        var bytes = FileIO.read(q.queueDir + "/" + unit)!
        bytes[bytes.count - 3] ^= 0xFF // one flipped bit in a record
        try FileIO.writeFile(q.queueDir + "/" + unit, bytes, fsync: false)

        let q2 = try DiskQueue(directory: dir, fsync: false)
        XCTAssertEqual(q2.load(), [])
        let (batch, moved) = q2.peek(maxEvents: 10, maxBytes: 1 << 20)
        XCTAssertEqual(moved.map(\.events), [2])
        XCTAssertEqual(moved.first?.reason.hasPrefix("record checksum mismatch"), true)
        XCTAssertEqual(ids(batch), [0, 1, 4, 5].map { #"{"event_id":"e\#($0)"}"# })
        XCTAssertEqual(FileIO.list(q2.quarantineDir).count, 1)
        XCTAssertEqual(q2.count, 4)
    }

    func testTruncatedUnitAndStrangeFilesAreMovedAside() throws {
        let dir = temporaryDirectory().path
        let q = try DiskQueue(directory: dir, fsync: false)
        _ = q.load()
        try q.append(events(3)[...])
        try q.append(events(1, from: 3)[...])
        let unit = FileIO.list(q.queueDir).sorted()[0]
        let bytes = FileIO.read(q.queueDir + "/" + unit)!
        try FileIO.writeFile(q.queueDir + "/" + unit, Array(bytes.prefix(bytes.count - 5)), fsync: false)
        try FileIO.writeFile(q.queueDir + "/notes.txt", Array("hello".utf8), fsync: false)
        try FileIO.writeFile(q.queueDir + "/" + unit.replacingOccurrences(of: "-3-", with: "-x-"), [], fsync: false)

        let q2 = try DiskQueue(directory: dir, fsync: false)
        let atLoad = q2.load()
        XCTAssertEqual(atLoad.count, 2, "two files whose names are not queue files")
        let (batch, moved) = q2.peek(maxEvents: 10, maxBytes: 1 << 20)
        XCTAssertEqual(moved.map(\.events), [3])
        XCTAssertEqual(ids(batch), [#"{"event_id":"e3"}"#])
    }

    func testCrashBetweenWriteAndRenameIsRecoveredOnce() throws {
        let dir = temporaryDirectory().path
        let q = try DiskQueue(directory: dir, fsync: false)
        _ = q.load()
        try q.append(events(2)[...])
        q.failBeforeRename = true
        XCTAssertThrowsError(try q.append(events(3, from: 2)[...]))
        XCTAssertEqual(FileIO.list(q.tmpDir).count, 1, "the write finished, the rename did not")

        let q2 = try DiskQueue(directory: dir, fsync: false)
        XCTAssertEqual(q2.load(), [])
        XCTAssertEqual(FileIO.list(q2.tmpDir), [])
        XCTAssertEqual(q2.count, 5)
        XCTAssertEqual(ids(q2.peek(maxEvents: 10, maxBytes: 1 << 20).0), (0..<5).map { #"{"event_id":"e\#($0)"}"# })
        try q2.append(events(1, from: 5)[...])
        XCTAssertEqual(q2.count, 6, "sequence numbers continue after the recovered unit")
        XCTAssertEqual(Set(FileIO.list(q2.queueDir)).count, 3)
    }

    func testTornWriteInTmpIsMovedAsideNotSent() throws {
        let dir = temporaryDirectory().path
        let q = try DiskQueue(directory: dir, fsync: false)
        _ = q.load()
        q.failBeforeRename = true
        XCTAssertThrowsError(try q.append(events(4)[...]))
        let tmp = q.tmpDir + "/" + FileIO.list(q.tmpDir)[0]
        let bytes = FileIO.read(tmp)!
        try FileIO.writeFile(tmp, Array(bytes.prefix(bytes.count / 2)), fsync: false) // the crash came mid-write

        let q2 = try DiskQueue(directory: dir, fsync: false)
        let moved = q2.load()
        XCTAssertEqual(moved.map(\.events), [4])
        XCTAssertEqual(q2.count, 0)
        XCTAssertEqual(FileIO.list(q2.quarantineDir).count, 1)
    }

    func testCursorWrittenBeforeDeletionMeansNoResend() throws {
        let dir = temporaryDirectory().path
        let q = try DiskQueue(directory: dir, fsync: false)
        _ = q.load()
        try q.append(events(2)[...])
        try q.append(events(2, from: 2)[...])
        let first = FileIO.list(q.queueDir).sorted()[0]
        let saved = FileIO.read(q.queueDir + "/" + first)!
        q.consume(3)
        // A crash after the cursor was written but before the unit was deleted.
        try FileIO.writeFile(q.queueDir + "/" + first, saved, fsync: false)
        let q2 = try DiskQueue(directory: dir, fsync: false)
        _ = q2.load()
        XCTAssertEqual(q2.count, 1)
        XCTAssertEqual(ids(q2.peek(maxEvents: 10, maxBytes: 1 << 20).0), [#"{"event_id":"e3"}"#])
        XCTAssertFalse(FileIO.list(q2.queueDir).contains(first))
    }

    func testPeekHonoursEventAndByteLimits() throws {
        let q = try DiskQueue(directory: temporaryDirectory().path, fsync: false)
        _ = q.load()
        try q.append(events(30)[...])
        XCTAssertEqual(q.peek(maxEvents: 7, maxBytes: 1 << 20).0.count, 7)
        let oneSize = #"{"event_id":"e10"}"#.utf8.count + 1
        XCTAssertEqual(q.peek(maxEvents: 100, maxBytes: 5 * oneSize).0.count, 5)
        XCTAssertEqual(q.peek(maxEvents: 100, maxBytes: 1).0.count, 1, "at least one event")
    }

    // MARK: Through the client

    func testCountCapDropsTheOldestAndCountsThem() async throws {
        let h = Harness()
        h.transport.answer { _, _ in throw URLError(.notConnectedToInternet) }
        let client = try h.client { $0.maxQueuedEvents = 100 }
        var ids: [String] = []
        for i in 0..<250 {
            ids.append(client.track("e\(i)")!)
            if i % 50 == 49 { _ = await client.flush() } // written to disk, caps applied
        }
        _ = await client.flush()
        XCTAssertEqual(client.counters.inQueue, 100)
        XCTAssertEqual(client.counters.droppedByCap, 150)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        h.clock.advance(3600)
        _ = await client.flush()
        let delivered = h.transport.sent.filter { _ in true }.suffix(1).flatMap(\.eventIDs)
        XCTAssertEqual(delivered, Array(ids.suffix(100)), "the newest 100 kept, in order")
        XCTAssertEqual(client.counters.delivered, 100)
        _ = await client.shutdown(deadline: Date())
    }

    func testByteCapDropsWholeOldestUnits() async throws {
        let h = Harness()
        h.transport.answer { _, _ in throw URLError(.timedOut) }
        let client = try h.client { $0.maxQueueBytes = 64 * 1024 }
        let text = String(repeating: "y", count: 1000)
        for i in 0..<200 {
            client.track("e\(i)", message: text)
            if i % 10 == 9 { _ = await client.flush() }
        }
        _ = await client.flush()
        let c = client.counters
        XCTAssertGreaterThan(c.droppedByCap, 100)
        XCTAssertEqual(c.droppedByCap + c.inQueue, 200)
        let onDisk = files(in: h.dir, "queue").compactMap(DiskQueue.Unit.init(name:)).reduce(0) { $0 + $1.bytes }
        XCTAssertLessThanOrEqual(onDisk, 64 * 1024)
        _ = await client.shutdown(deadline: Date())
    }

    func testAgeCapDropsOldEvents() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(500, "internal") }
        let client = try h.client { $0.maxEventAge = 3600 }
        for i in 0..<5 { client.track("old\(i)") }
        _ = await client.flush()
        h.clock.advance(1800)
        for i in 0..<3 { client.track("new\(i)") }
        _ = await client.flush()
        h.clock.advance(1801)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(client.counters.droppedByCap, 5)
        XCTAssertEqual(client.counters.delivered, 3)
        XCTAssertEqual(h.transport.sent.last.map { (0..<3).map($0.event).map { $0["event_name"] as! String } }, ["new0", "new1", "new2"])
        _ = await client.shutdown(deadline: Date())
    }

    /// A person sets the device's clock forward, past the age cap (to skip
    /// a game's timer): the events queued before are not old by the
    /// server's clock, so nothing is dropped; all are delivered.
    func testAgeCapIgnoresADeviceClockSetForward() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(500, "internal") }
        let client = try h.client { $0.maxEventAge = 3600 }
        for i in 0..<5 { client.track("before\(i)") }
        _ = await client.flush() // the server has answered: its clock is known
        h.clock.setDeviceClock(by: 30 * 24 * 3600)
        h.clock.advance(60)
        for i in 0..<2 { client.track("after\(i)") }
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        let r = await client.flush() // the failure's backoff has passed, by the device's clock
        XCTAssertTrue(r.isComplete, "\(r)")
        XCTAssertEqual(client.counters.droppedByCap, 0)
        XCTAssertEqual(client.counters.delivered, 7)
        _ = await client.shutdown(deadline: Date())
    }

    /// The device's clock set back past the age cap stamps new events in the
    /// past: by its own clock they are new, so they are kept.
    func testAgeCapIgnoresADeviceClockSetBack() async throws {
        let h = Harness()
        let client = try h.client { $0.maxEventAge = 3600 }
        client.track("first")
        var r = await client.flush()
        XCTAssertTrue(r.isComplete)
        h.transport.answer { _, _ in .error(500, "internal") }
        h.clock.setDeviceClock(by: -30 * 24 * 3600)
        for i in 0..<3 { client.track("back\(i)") }
        r = await client.flush()
        XCTAssertEqual(r.remaining, 3)
        h.clock.advance(600)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        r = await client.flush()
        XCTAssertTrue(r.isComplete, "\(r)")
        XCTAssertEqual(client.counters.droppedByCap, 0)
        XCTAssertEqual(client.counters.delivered, 4)
        _ = await client.shutdown(deadline: Date())
    }

    /// A relaunch with the device's clock far ahead: until the server has
    /// answered in this process its clock is unknown, so nothing is dropped
    /// by age (testAgeCapDropsOldEvents: what both clocks say is old goes).
    func testAgeCapWaitsForTheServersClock() async throws {
        let h = Harness()
        h.transport.answer { _, _ in .error(500, "internal") }
        var client = try h.client { $0.maxEventAge = 3600 }
        for i in 0..<4 { client.track("queued\(i)") }
        _ = await client.flush()
        _ = await client.shutdown(deadline: Date())
        h.clock.setDeviceClock(by: 30 * 24 * 3600)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        client = try h.client { $0.maxEventAge = 3600 }
        let r = await client.flush() // past the backoff the failure left (state.json), by the device's clock
        XCTAssertTrue(r.isComplete, "\(r)")
        XCTAssertEqual(client.counters.droppedByCap, 0)
        XCTAssertEqual(client.counters.delivered, 4)
        _ = await client.shutdown(deadline: Date())
    }

    /// Answers without a `Date` (a proxy that strips it): the server's clock
    /// is never known, so the age cap never drops.
    func testAgeCapNeedsTheServersDate() async throws {
        let h = Harness()
        h.transport.serverTime = nil
        h.transport.answer { _, _ in .error(500, "internal") }
        let client = try h.client { $0.maxEventAge = 3600 }
        for i in 0..<3 { client.track("old\(i)") }
        _ = await client.flush()
        h.clock.advance(2 * 3600)
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        let r = await client.flush()
        XCTAssertTrue(r.isComplete, "\(r)")
        XCTAssertEqual(client.counters.droppedByCap, 0)
        XCTAssertEqual(client.counters.delivered, 3)
        _ = await client.shutdown(deadline: Date())
    }

    func testCorruptQueueFileNeverStopsTheClient() async throws {
        let h = Harness()
        h.transport.answer { _, _ in throw URLError(.notConnectedToInternet) }
        var client = try h.client()
        for i in 0..<9 {
            client.track("e\(i)")
            if i % 3 == 2 { _ = await client.flush() } // three units of three
        }
        _ = await client.shutdown(deadline: Date())
        let units = files(in: h.dir, "queue")
        XCTAssertEqual(units.count, 3)
        try FileIO.writeFile(h.dir.appendingPathComponent("queue/" + units[1]).path, Array("garbage".utf8), fsync: false)

        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        h.clock.advance(3600) // past the backoff the failures left
        let failed = h.transport.sent.count
        client = try h.client()
        let r = await client.flush()
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(client.counters.quarantined, 3)
        XCTAssertEqual(client.counters.delivered, 6)
        XCTAssertEqual(h.transport.sent.dropFirst(failed).flatMap { s in (0..<s.events.count).map { s.event($0)["event_name"] as! String } },
                       ["e0", "e1", "e2", "e6", "e7", "e8"])
        XCTAssertEqual(files(in: h.dir, "quarantine").count, 1)
        XCTAssertTrue(h.reports.logs.contains { $0.contains("quarantine") })
        _ = await client.shutdown(deadline: Date())
    }

    /// A unit that cannot be read for the moment — no file descriptor left
    /// (EMFILE, as in an app that holds many files and sockets open), or on
    /// iOS a file locked by Data Protection before the first unlock — is
    /// not corrupt: it stays queued, the upload waits as after a failure,
    /// and the events are sent once the file can be read.
    func testAUnitThatCannotBeReadForNowStaysQueued() async throws {
        let h = Harness()
        h.transport.answer { _, _ in throw URLError(.notConnectedToInternet) }
        var client = try h.client()
        let ids = (0..<3).compactMap { client.track("e\($0)") }
        _ = await client.flush() // on disk, waiting out a backoff
        _ = await client.shutdown(deadline: Date())
        client = try h.client() // the next launch: the queue is loaded, not yet read
        _ = await client.flush()
        h.transport.answer { _, r in .accepted(r.eventIDs.count) }
        h.clock.advance(3600)
        let r = try await withNoFileDescriptors { await client.flush() }
        XCTAssertEqual(client.counters.quarantined, 0, "\(h.reports.logs)")
        XCTAssertEqual(files(in: h.dir, "quarantine"), [])
        XCTAssertEqual(r.remaining, 3)
        guard case .backoff(let until)? = r.blocker else { return XCTFail("\(r)") }
        h.clock.advance(until.timeIntervalSince(h.clock.now()))
        let done = await client.flush()
        XCTAssertTrue(done.isComplete)
        XCTAssertEqual(h.transport.sent.last?.eventIDs, ids)
        XCTAssertEqual(client.counters.delivered, 3)
        _ = await client.shutdown(deadline: Date())
    }

    /// A queue write that fails (a full disk: ENOSPC) leaves the events in
    /// memory only. flush() and shutdown() say so — they remain, blocked by
    /// storage — instead of reporting the queue empty; the write is tried
    /// again on the next flush, and events a shutdown still cannot write
    /// are counted as dropped, not lost silently.
    func testEventsTheDiskCannotTakeAreNeverReportedComplete() async throws {
        let h = Harness()
        let client = try h.client()
        _ = await client.flush() // the queue is loaded
        let ids = try await withFullDisk(h.dir) { () -> [String] in
            let ids = (0..<5).compactMap { client.track("e\($0)") }
            let r = await client.flush()
            XCTAssertEqual(r, FlushResult(remaining: 5, blocker: .storage), "not on disk, not sent: not complete")
            XCTAssertEqual(client.counters.inQueue, 5)
            XCTAssertEqual(h.transport.sent.count, 0)
            return ids
        }
        let done = await client.flush() // room again: written, then sent
        XCTAssertTrue(done.isComplete, "\(done)")
        XCTAssertEqual(h.transport.sent.flatMap(\.eventIDs), ids)
        XCTAssertEqual(client.counters.delivered, 5)

        let r = try await withFullDisk(h.dir) { () -> FlushResult in
            for i in 0..<3 { client.track("late\(i)") }
            return await client.shutdown(deadline: Date().addingTimeInterval(1))
        }
        XCTAssertEqual(r, FlushResult(remaining: 3, blocker: .storage), "the shutdown says they are not kept")
        XCTAssertEqual(client.counters.droppedUnwritten, 3, "dropped with the client, and counted")
        XCTAssertEqual(client.counters.inQueue, 0)
        XCTAssertTrue(h.reports.logs.contains { $0.hasPrefix("error:") && $0.contains("3 events") && $0.contains("No space left on device") },
                      "\(h.reports.logs)")
        XCTAssertEqual(files(in: h.dir, "queue"), [], "nothing was written for the next launch")
    }

    /// A queue folder that cannot be made for now (here a file stands
    /// where it goes; on a full disk, mkdir fails) keeps the events in
    /// memory, reported as storage, and is tried again: the next flush
    /// after it can be made writes and sends them.
    func testAQueueFolderThatCannotBeMadeIsTriedAgain() async throws {
        let h = Harness()
        let queueDir = h.dir.appendingPathComponent("queue").path
        try FileIO.writeFile(queueDir, [], fsync: false)
        let client = try h.client()
        let ids = (0..<2).compactMap { client.track("e\($0)") }
        let r = await client.flush()
        XCTAssertEqual(r, FlushResult(remaining: 2, blocker: .storage))
        FileIO.remove(queueDir)
        let done = await client.flush()
        XCTAssertTrue(done.isComplete, "\(done)")
        XCTAssertEqual(h.transport.sent.flatMap(\.eventIDs), ids)
        _ = await client.shutdown(deadline: Date())
    }

    func testEventsAreOnDiskWithinTheDocumentedDelay() async throws {
        let h = Harness()
        let client = try h.client()
        client.track("e")
        // No flush: the pipeline writes on its own, within milliseconds.
        await eventually("a unit file", timeout: 1) { !files(in: h.dir, "queue").isEmpty }
        _ = await client.shutdown(deadline: Date())
    }
}

/// Runs body with the process unable to open a file (RLIMIT_NOFILE 0: every
/// open fails with EMFILE), then restores the limit.
func withNoFileDescriptors<T>(_ body: () async throws -> T) async throws -> T {
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    var saved = rlimit()
    guard getrlimit(resource, &saved) == 0 else { throw POSIXError(.EINVAL) }
    var none = saved
    none.rlim_cur = 0
    guard setrlimit(resource, &none) == 0 else { throw POSIXError(.EINVAL) }
    defer { _ = setrlimit(resource, &saved) }
    return try await body()
}

/// Runs body with the client's disk full: the next queue files it writes
/// (tmp/<seq>.tmp) lead to /dev/full, so each write fails with ENOSPC; then
/// there is room again. The client must have loaded its queue (a load would
/// read those files).
func withFullDisk<T>(_ dir: URL, _ body: () async throws -> T) async throws -> T {
    guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full on this system") }
    let queued = files(in: dir, "queue").compactMap(DiskQueue.Unit.init(name:)).map(\.seq).max() ?? 0
    let cursor = FileIO.read(dir.appendingPathComponent("cursor").path)
        .flatMap { String(decoding: $0, as: UTF8.self).split(separator: " ").dropFirst().first.flatMap { UInt64($0) } } ?? 0
    let next = max(queued + 1, cursor, 1)
    let links = (next..<next + 1000).map { dir.appendingPathComponent("tmp/\($0).tmp").path }
    defer { for l in links { unlink(l) } } // the ones no write used
    for l in links { guard symlink("/dev/full", l) == 0 else { throw POSIXError(.EEXIST) } }
    return try await body()
}
