import Foundation

/// The durable queue: events on disk in **units**, one file each, written to
/// `tmp/` and renamed into `queue/` (a reader never sees half a file), every
/// record framed with its length and CRC-32. Events leave from the head, in
/// order; `cursor` records how far the head has been consumed.
///
/// A unit that cannot be read back (bad header, bad checksum, truncated) is
/// moved to `quarantine/` and counted; it never blocks the units behind it.
/// One that cannot be read for now (no file descriptor left, locked by Data
/// Protection) stays where it is: ``unreadable`` says why, and a later peek
/// reads it again.
/// A unit left in `tmp/` by a crash between write and rename is checked and
/// recovered at the next start.
///
/// Not thread-safe: owned by the ``Pipeline`` actor.
final class DiskQueue {
    struct Unit: Equatable {
        var seq: UInt64
        var count: Int
        var bytes: Int
        var firstMs: Int64
        var lastMs: Int64

        var name: String {
            let s = String(seq)
            return String(repeating: "0", count: max(0, 16 - s.count)) + s + "-\(count)-\(bytes)-\(firstMs)-\(lastMs).evq"
        }

        init(seq: UInt64, count: Int, bytes: Int, firstMs: Int64, lastMs: Int64) {
            self.seq = seq
            self.count = count
            self.bytes = bytes
            self.firstMs = firstMs
            self.lastMs = lastMs
        }

        init?(name: String) {
            guard name.hasSuffix(".evq") else { return nil }
            let p = name.dropLast(4).split(separator: "-")
            guard p.count == 5, let seq = UInt64(p[0]), let c = Int(p[1]), let b = Int(p[2]),
                  let f = Int64(p[3]), let l = Int64(p[4]), c > 0, b >= 0 else { return nil }
            self.init(seq: seq, count: c, bytes: b, firstMs: f, lastMs: l)
        }
    }

    /// Events read from the head, not yet consumed.
    struct Batch {
        var records: [ArraySlice<UInt8>] = []
        var bytes = 0
        var count: Int { records.count }
    }

    struct Quarantined: Equatable {
        var file: String
        var events: Int
        var reason: String
    }

    static let headerSize = 32
    static let magic: [UInt8] = Array("EVQ1".utf8)
    static let maxUnitEvents = 500
    static let maxUnitBytes = 512 * 1024
    static let quarantineKept = 16

    let queueDir: String
    let tmpDir: String
    let quarantineDir: String
    let cursorPath: String
    let fsync: Bool

    private var units: [Unit] = []
    private var head = 0
    private(set) var skip = 0
    private var nextSeq: UInt64 = 1
    private var totalEvents = 0
    private var totalBytes = 0
    private var cache: (seq: UInt64, records: [ArraySlice<UInt8>])?

    /// Why the last peek stopped at a unit it cannot read for now; nil when it did not.
    private(set) var unreadable: String?

    /// Tests: fail after writing a unit to tmp/ and before renaming it, as a crash there would.
    var failBeforeRename = false

    /// Events in the queue.
    var count: Int { totalEvents - skip }
    /// Bytes of the queued units (consumed events of the head unit included).
    var bytes: Int { totalBytes }
    var unitCount: Int { units.count - head }
    var oldestMs: Int64? { head < units.count ? units[head].firstMs : nil }

    init(directory: String, fsync: Bool) throws {
        queueDir = directory + "/queue"
        tmpDir = directory + "/tmp"
        quarantineDir = directory + "/quarantine"
        cursorPath = directory + "/cursor"
        self.fsync = fsync
        for d in [queueDir, tmpDir, quarantineDir] { try FileIO.makeDirectory(d) }
    }

    // MARK: - Start-up

    /// Reads the folder: recovers units left in tmp/, lists the units, applies
    /// the cursor. Returns what had to be moved aside.
    func load() -> [Quarantined] {
        var moved: [Quarantined] = []
        let (cseq, cskip) = readCursor()
        var maxSeq = cseq > 0 ? cseq - 1 : 0
        for f in FileIO.list(tmpDir) {
            let path = tmpDir + "/" + f
            guard f.hasSuffix(".tmp"), let seq = UInt64(f.dropLast(4)) else {
                FileIO.remove(path)
                continue
            }
            maxSeq = max(maxSeq, seq)
            guard let bytes = FileIO.read(path) else { continue }
            switch Self.parse(bytes) {
            case .success(let (h, _)):
                let u = Unit(seq: seq, count: h.count, bytes: h.bytes, firstMs: h.firstMs, lastMs: h.lastMs)
                if (try? FileIO.renameFile(path, queueDir + "/" + u.name)) == nil { FileIO.remove(path) }
            case .failure(let e):
                // A write cut short: its events were never reported on disk.
                moved.append(quarantine(path: path, name: f, events: Self.headerCount(bytes), reason: "unfinished write: " + e.reason))
            }
        }
        var found: [Unit] = []
        for f in FileIO.list(queueDir) {
            let path = queueDir + "/" + f
            guard let u = Unit(name: f) else {
                moved.append(quarantine(path: path, name: f, events: 0, reason: "not a queue file name"))
                continue
            }
            maxSeq = max(maxSeq, u.seq)
            if u.seq < cseq {
                FileIO.remove(path) // consumed before a crash removed it
            } else {
                found.append(u)
            }
        }
        found.sort { $0.seq < $1.seq }
        units = found
        head = 0
        totalEvents = found.reduce(0) { $0 + $1.count }
        totalBytes = found.reduce(0) { $0 + $1.bytes }
        skip = 0
        if let first = found.first, first.seq == cseq, cskip > 0 {
            if cskip >= first.count {
                consume(first.count)
            } else {
                skip = cskip
            }
        }
        nextSeq = max(maxSeq + 1, cseq, 1)
        return moved
    }

    // MARK: - Writing

    /// Writes events (at most ``maxUnitEvents``) as one unit.
    func append(_ events: ArraySlice<PendingEvent>) throws {
        guard let first = events.first, let last = events.last else { return }
        let payloadBytes = events.reduce(0) { $0 + $1.json.count }
        var buf = [UInt8]()
        buf.reserveCapacity(Self.headerSize + payloadBytes + 8 * events.count)
        buf.append(contentsOf: Self.magic)
        Self.put32(&buf, UInt32(events.count))
        Self.put32(&buf, UInt32(payloadBytes))
        Self.put64(&buf, UInt64(bitPattern: first.ms))
        Self.put64(&buf, UInt64(bitPattern: last.ms))
        let hcrc = buf.withUnsafeBytes { Gzip.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        Self.put32(&buf, hcrc)
        for e in events {
            Self.put32(&buf, UInt32(e.json.count))
            Self.put32(&buf, e.json.withUnsafeBytes { Gzip.crc32($0) })
            buf.append(contentsOf: e.json)
        }
        let u = Unit(seq: nextSeq, count: events.count, bytes: payloadBytes, firstMs: first.ms, lastMs: last.ms)
        nextSeq += 1
        let tmp = tmpDir + "/\(u.seq).tmp"
        do {
            try FileIO.writeFile(tmp, buf, fsync: fsync)
            if failBeforeRename { throw FileIOError("simulated crash before rename", tmp, errno: EIO) }
            try FileIO.renameFile(tmp, queueDir + "/" + u.name)
        } catch {
            if !failBeforeRename { FileIO.remove(tmp) }
            throw error
        }
        if fsync { FileIO.syncDirectory(queueDir) }
        units.append(u)
        totalEvents += u.count
        totalBytes += u.bytes
    }

    // MARK: - Reading and consuming

    /// Up to maxEvents events (and maxBytes of them, at least one) from the
    /// head. Units that cannot be read are moved aside and returned.
    func peek(maxEvents: Int, maxBytes: Int) -> (Batch, [Quarantined]) {
        var batch = Batch()
        var moved: [Quarantined] = []
        var i = head
        unreadable = nil
        outer: while i < units.count, batch.count < maxEvents {
            let u = units[i]
            guard let recs = records(of: u) else {
                if unreadable != nil { break } // read again later: events behind it wait, in order
                moved.append(quarantineUnit(at: i))
                continue // units[i] is now the next unit
            }
            let from = i == head ? skip : 0
            for r in recs[from...] {
                if batch.count == maxEvents || (batch.count > 0 && batch.bytes + r.count + 1 > maxBytes) { break outer }
                batch.records.append(r)
                batch.bytes += r.count + 1
            }
            i += 1
        }
        return (batch, moved)
    }

    /// Removes n events from the head: the cursor is written first, then the
    /// files of whole consumed units are deleted, so a crash in between
    /// never sends an event twice nor loses one. Returns how many were removed.
    @discardableResult
    func consume(_ n: Int) -> Int {
        var remaining = n
        var i = head
        var s = skip
        while remaining > 0, i < units.count {
            let avail = units[i].count - s
            if remaining >= avail {
                remaining -= avail
                i += 1
                s = 0
            } else {
                s += remaining
                remaining = 0
            }
        }
        setHead(i, skip: s)
        return n - remaining
    }

    /// Drops what is left of the head unit; returns the events dropped.
    func dropHeadUnit() -> Int {
        guard head < units.count else { return 0 }
        return consume(units[head].count - skip)
    }

    /// Drops units whose newest event is older than cutoffMs (whole units:
    /// the cap is as precise as one unit). Returns the events dropped.
    func dropOlder(thanMs cutoff: Int64) -> Int {
        var n = 0
        var i = head
        while i < units.count, units[i].lastMs < cutoff {
            n += units[i].count - (i == head ? skip : 0)
            i += 1
        }
        return n > 0 ? consume(n) : 0
    }

    // MARK: - Internals

    private func setHead(_ i: Int, skip s: Int) {
        let cseq = i < units.count ? units[i].seq : nextSeq
        writeCursor(cseq, s)
        for k in head..<i {
            FileIO.remove(queueDir + "/" + units[k].name)
            totalEvents -= units[k].count
            totalBytes -= units[k].bytes
            if cache?.seq == units[k].seq { cache = nil }
        }
        head = i
        skip = s
        if head > 1024, head * 2 > units.count {
            units.removeFirst(head)
            head = 0
        }
    }

    private func quarantineUnit(at i: Int) -> Quarantined {
        let u = units[i]
        let events = u.count - (i == head ? skip : 0)
        let q = quarantine(path: queueDir + "/" + u.name, name: u.name, events: events, reason: lastReadError ?? "unreadable")
        units.remove(at: i)
        totalEvents -= u.count
        totalBytes -= u.bytes
        if cache?.seq == u.seq { cache = nil }
        if i == head {
            skip = 0
            writeCursor(i < units.count ? units[i].seq : nextSeq, 0)
        }
        return q
    }

    private func quarantine(path: String, name: String, events: Int, reason: String) -> Quarantined {
        let dest = quarantineDir + "/\(Timestamp.ms(Date()))-" + name
        if (try? FileIO.renameFile(path, dest)) == nil { FileIO.remove(path) }
        let kept = FileIO.list(quarantineDir).sorted()
        for old in kept.dropLast(Self.quarantineKept) { FileIO.remove(quarantineDir + "/" + old) }
        return Quarantined(file: name, events: events, reason: reason)
    }

    private var lastReadError: String?

    /// The unit's records, checked against its name, header and checksums.
    private func records(of u: Unit) -> [ArraySlice<UInt8>]? {
        if let c = cache, c.seq == u.seq { return c.records }
        let bytes: [UInt8]
        do {
            bytes = try FileIO.readFile(queueDir + "/" + u.name)
        } catch let e as FileIOError where e.isTemporary {
            unreadable = e.description
            return nil
        } catch {
            lastReadError = "cannot be read: \(error)"
            return nil
        }
        switch Self.parse(bytes) {
        case .failure(let e):
            lastReadError = e.reason
            return nil
        case .success(let (h, recs)):
            guard h.count == u.count, h.bytes == u.bytes, h.firstMs == u.firstMs, h.lastMs == u.lastMs else {
                lastReadError = "header does not match the file name"
                return nil
            }
            cache = (u.seq, recs)
            return recs
        }
    }

    struct Header {
        var count: Int
        var bytes: Int
        var firstMs: Int64
        var lastMs: Int64
    }

    struct ParseError: Error {
        var reason: String
    }

    /// Checks a whole unit file: magic, header checksum, every record's
    /// length and checksum, the count, nothing after the last record.
    static func parse(_ b: [UInt8]) -> Result<(Header, [ArraySlice<UInt8>]), ParseError> {
        guard b.count >= headerSize, Array(b[0..<4]) == magic else { return .failure(ParseError(reason: "bad header")) }
        let hcrc = b.withUnsafeBytes { Gzip.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        guard get32(b, 28) == hcrc else { return .failure(ParseError(reason: "header checksum mismatch")) }
        let h = Header(count: Int(get32(b, 4)), bytes: Int(get32(b, 8)),
                       firstMs: Int64(bitPattern: get64(b, 12)), lastMs: Int64(bitPattern: get64(b, 20)))
        var recs: [ArraySlice<UInt8>] = []
        recs.reserveCapacity(h.count)
        var off = headerSize
        while off < b.count {
            guard off + 8 <= b.count else { return .failure(ParseError(reason: "truncated record header at \(off)")) }
            let len = Int(get32(b, off))
            let crc = get32(b, off + 4)
            guard off + 8 + len <= b.count else { return .failure(ParseError(reason: "truncated record at \(off)")) }
            let payload = b[(off + 8)..<(off + 8 + len)]
            guard payload.withUnsafeBytes({ Gzip.crc32($0) }) == crc else { return .failure(ParseError(reason: "record checksum mismatch at \(off)")) }
            recs.append(payload)
            off += 8 + len
        }
        guard recs.count == h.count else { return .failure(ParseError(reason: "\(recs.count) records, header says \(h.count)")) }
        return .success((h, recs))
    }

    static func headerCount(_ b: [UInt8]) -> Int {
        guard b.count >= headerSize, Array(b[0..<4]) == magic else { return 0 }
        let hcrc = b.withUnsafeBytes { Gzip.crc32(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        return get32(b, 28) == hcrc ? Int(get32(b, 4)) : 0
    }

    private func readCursor() -> (UInt64, Int) {
        guard let b = FileIO.read(cursorPath) else { return (0, 0) }
        let p = String(decoding: b, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard p.count == 3, p[0] == "v1", let seq = UInt64(p[1]), let s = Int(p[2]), s >= 0 else { return (0, 0) }
        return (seq, s)
    }

    private func writeCursor(_ seq: UInt64, _ skip: Int) {
        try? FileIO.replace(cursorPath, Array("v1 \(seq) \(skip)\n".utf8), fsync: fsync)
    }

    static func put32(_ b: inout [UInt8], _ v: UInt32) {
        for i in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    static func put64(_ b: inout [UInt8], _ v: UInt64) {
        for i in 0..<8 { b.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func get32<C: RandomAccessCollection>(_ b: C, _ off: Int) -> UInt32 where C.Element == UInt8, C.Index == Int {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[b.startIndex + off + i]) << (8 * UInt32(i)) }
        return v
    }

    static func get64(_ b: [UInt8], _ off: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[off + i]) << (8 * UInt64(i)) }
        return v
    }
}

