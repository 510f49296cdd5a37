import Foundation

/// The one owner of the queue and the uploader. `track` hands events over
/// through the front state; this actor writes them to disk, enforces the
/// caps, sends one request at a time and lets the server's answer decide
/// each event's fate.
actor Pipeline {
    private let config: Configuration
    private let transport: any Transport
    private let front: Locked<FrontState>
    private let dir: String
    private let url: URL
    private let backoff: Backoff
    private let statePath: String
    private let identityPath: String

    private var queue: DiskQueue?
    private var storageError: String?
    /// Why the last write to the queue failed (a full disk); nil once a
    /// write takes every pending event. While set, the events in memory
    /// are not on disk: a flush reports them remaining, blocked by storage.
    private var writeFailure: String?
    private var stateLoaded = false
    private var state = UploadState()
    private var writeKey: String
    /// The key a 401 refused: no uploads while it is the key.
    private var refusedKey: String?
    private var uploading = false
    private var waiters: [CheckedContinuation<FlushResult, Never>] = []
    /// After a 413: the events of the refused batch still to send, and how
    /// many a request may carry until they are.
    private var splitRemaining = 0
    private var splitLimit = 0
    private var wakeTask: Task<Void, Never>?
    private var timerTask: Task<Void, Never>?
    private var persistRetry: Task<Void, Never>?
    private var inflight: Task<UploadResponse, Error>?
    private var stopped = false
    private var identityWrittenMs: Int64 = 0
    /// The server's time (its last answer's `Date`) and the uptime then.
    private var serverClock: (date: Date, uptime: TimeInterval)?
    private var spare: [PendingEvent] = []

    init(config: Configuration, directory: String, front: Locked<FrontState>) {
        self.config = config
        transport = config.transport ?? URLSessionTransport(timeout: config.requestTimeout)
        self.front = front
        dir = directory
        url = config.endpoint.appendingPathComponent("v1/track")
        backoff = Backoff(base: config.retryBaseDelay, max: config.retryMaxDelay)
        statePath = directory + "/state.json"
        identityPath = directory + "/identity.json"
        writeKey = config.writeKey
    }

    // MARK: - Start

    /// Loads the queue and the upload state, starts the interval timer and
    /// sends what an earlier run left.
    func start() {
        guard !stopped else { return }
        ensureLoaded()
        let interval = config.flushInterval
        timerTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(max(interval, 0.01) * 1e9))
                guard !Task.isCancelled, let self else { return }
                await self.tick()
            }
        }
        if let q = queue, q.count > 0 { startDrain() } else { scheduleWakeIfBlocked() }
    }

    /// Opens the queue (tried again on every write until the folder is
    /// usable: a full disk may refuse even its folders) and, once, the state.
    private func ensureLoaded() {
        if queue == nil {
            do {
                let q = try DiskQueue(directory: dir, fsync: config.fsyncWrites)
                let moved = q.load()
                queue = q
                storageError = nil
                noteQuarantined(moved)
                if q.count > 0 { log(.info, "\(q.count) events queued by an earlier run") }
            } catch {
                if storageError == nil { log(.error, "queue folder unusable, events stay in memory: \(error)") }
                storageError = "\(error)"
            }
        }
        guard !stateLoaded else { return }
        stateLoaded = true
        if let b = FileIO.read(statePath), let s = try? JSONDecoder().decode(UploadState.self, from: Data(b)) {
            state = s
            boundWaits(now: config.now().timeIntervalSince1970)
        }
        updateDepth()
    }

    private func tick() {
        persistPending()
        if let q = queue, q.count > 0 { startDrain() }
    }

    // MARK: - Persisting

    /// How long the pipeline gathers events after `track` wakes it before
    /// writing them: a burst becomes one file and one wake-up, not one each.
    static let persistDelay: UInt64 = 2_000_000

    func persistSoon() async {
        try? await Task.sleep(nanoseconds: Self.persistDelay)
        persistPending()
    }

    /// Writes the events `track` handed over to disk, in order.
    func persistPending() {
        guard !stopped else { return } // the folder may belong to another client now
        ensureLoaded()
        // Two buffers swapped under the lock: track never waits for a copy
        // and its buffer keeps its capacity.
        var events = spare
        let identity = front.withLock { s -> Identity? in
            swap(&s.pending, &events)
            s.persistScheduled = false
            var id: Identity?
            if s.identityDirty || s.identity.lastActiveMs - identityWrittenMs > 60_000 {
                id = s.identity
                s.identityDirty = false
            }
            return id
        }
        defer {
            events.removeAll(keepingCapacity: true)
            spare = events
        }
        if let identity { writeIdentity(identity) }
        guard !events.isEmpty else { return }
        guard let q = queue else {
            putBack(events[...])
            retryPersistSoon()
            return
        }
        var written = 0
        while written < events.count {
            var end = written
            var bytes = 0
            while end < events.count, end - written < DiskQueue.maxUnitEvents,
                  end == written || bytes + events[end].json.count <= DiskQueue.maxUnitBytes {
                bytes += events[end].json.count
                end += 1
            }
            do {
                try q.append(events[written..<end])
                written = end
            } catch {
                writeFailure = "\(error)"
                log(.error, "writing the queue failed, \(events.count - written) events wait in memory; retrying in 1 s and on the next track or flush: \(error)")
                putBack(events[written...])
                retryPersistSoon()
                break
            }
        }
        if written == events.count { writeFailure = nil }
        if !uploading { enforceCaps() }
        updateDepth()
        if q.count >= config.flushAt { startDrain() }
    }

    /// Events wait in memory for a write that failed: tried again in a
    /// second, if no track or flush has written them before.
    private func retryPersistSoon() {
        guard persistRetry == nil else { return }
        persistRetry = Task { [weak self] in
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            await self?.retryPersist()
        }
    }

    private func retryPersist() {
        persistRetry = nil
        persistPending()
    }

    private func putBack(_ events: ArraySlice<PendingEvent>) {
        let dropped = front.withLock { s -> Int in
            s.pending.insert(contentsOf: events, at: 0)
            let over = s.pending.count - config.maxQueuedEvents
            guard over > 0 else { return 0 }
            s.pending.removeFirst(over)
            s.counters.droppedByCap += over
            return over
        }
        if dropped > 0 { log(.warning, "events waiting in memory over maxQueuedEvents: dropped the \(dropped) oldest") }
    }

    /// At shutdown, after the last write: events still in memory could not
    /// be written to disk and end with the client. Counted in
    /// ``Counters/droppedUnwritten`` and logged, never lost silently.
    private func dropUnwritten() {
        let n = front.withLock { s -> Int in
            let n = s.pending.count
            s.pending.removeAll()
            s.counters.droppedUnwritten += n
            s.refreshDepth()
            return n
        }
        guard n > 0 else { return }
        log(.error, "shut down with \(n) events that could not be written to disk: dropped (\(writeFailure ?? storageError ?? "no queue"))")
    }

    func writeIdentity(_ identity: Identity) {
        guard let data = try? JSONEncoder().encode(identity) else { return }
        do {
            try FileIO.replace(identityPath, [UInt8](data), fsync: config.fsyncWrites)
            identityWrittenMs = identity.lastActiveMs
        } catch {
            log(.warning, "writing identity.json failed: \(error)")
        }
    }

    private func saveState() {
        guard let data = try? JSONEncoder().encode(state) else { return }
        do {
            try FileIO.replace(statePath, [UInt8](data), fsync: config.fsyncWrites)
        } catch {
            log(.warning, "writing state.json failed: \(error)")
        }
    }

    /// Drops the oldest events beyond the caps (age, count, bytes). Never
    /// while a request is in flight: its events are at the head.
    private func enforceCaps() {
        guard let q = queue else { return }
        var dropped = 0
        if let now = ageClock() {
            dropped += q.dropOlder(thanMs: Timestamp.ms(now) - Int64(config.maxEventAge * 1000))
        }
        if q.count > config.maxQueuedEvents { dropped += q.consume(q.count - config.maxQueuedEvents) }
        // Whole units: the byte total falls when a file goes.
        while q.bytes > config.maxQueueBytes, q.unitCount > 0 { dropped += q.dropHeadUnit() }
        if dropped > 0 {
            front.withLock { $0.counters.droppedByCap += dropped }
            log(.warning, "queue over its caps: dropped the \(dropped) oldest events")
            if state.batch != nil { // the batch that failed is no longer whole
                state.batch = nil
                saveState()
            }
        }
    }

    /// The time the age cap reads: the earlier of the device's clock and
    /// the server's (carried on by the uptime since its last answer), so
    /// that neither a device clock set forward nor one set back (which
    /// stamps events in the past) makes events look old; nil before the
    /// server has answered with a `Date` in this process.
    private func ageClock() -> Date? {
        guard let s = serverClock else { return nil }
        let server = s.date.addingTimeInterval(max(0, config.uptime() - s.uptime))
        return min(server, config.now())
    }

    private func updateDepth() {
        let n = queue?.count ?? 0
        front.withLock { s in
            s.onDisk = n
            s.refreshDepth()
        }
    }

    // MARK: - Flushing

    /// Sends everything queued; returns when the queue is empty or uploads
    /// are blocked (paused, backing off, unauthorized, stopped, events that
    /// cannot be written to disk).
    func flush() async -> FlushResult {
        persistPending()
        if let q = queue, uploading || (q.count > 0 && blocker() == nil) {
            return await withCheckedContinuation { c in
                waiters.append(c)
                startDrain()
            }
        }
        return result(blocker())
    }

    /// What a flush ends with: every event not sent, on disk or in memory.
    /// Events the queue could not take (a full disk, an unusable folder)
    /// make storage the blocker, before whatever blocks the uploads.
    private func result(_ uploadBlocker: FlushResult.Blocker?) -> FlushResult {
        let inMemory = front.withLock { $0.pending.count }
        let unwritable = queue == nil || (inMemory > 0 && writeFailure != nil)
        return FlushResult(remaining: (queue?.count ?? 0) + inMemory, blocker: unwritable ? .storage : uploadBlocker)
    }

    /// A new write key: uploads refused with the old one resume.
    func setWriteKey(_ key: String) {
        writeKey = key
        if refusedKey != nil, refusedKey != key {
            refusedKey = nil
            log(.info, "new write key: uploads resume")
            startDrain()
        }
    }

    private func blocker() -> FlushResult.Blocker? {
        if stopped { return .stopped }
        if queue == nil { return .storage }
        if refusedKey == writeKey { return .unauthorized }
        let now = config.now().timeIntervalSince1970
        boundWaits(now: now)
        if let p = state.pausedUntil, p > now { return .paused(until: Date(timeIntervalSince1970: p)) }
        if let n = state.nextAttemptAt, n > now { return .backoff(until: Date(timeIntervalSince1970: n)) }
        return nil
    }

    /// A wait is kept as a time of day, to outlive the process; a clock set
    /// back would stretch it by as much. So wherever it is checked it is
    /// bounded again from now: a pause by `maxRetryAfter`, a backoff by its
    /// attempt's ceiling (at most `retryMaxDelay`).
    private func boundWaits(now: Double) {
        var s = state
        if let p = s.pausedUntil, p - now > config.maxRetryAfter { s.pausedUntil = now + config.maxRetryAfter }
        let ceiling = backoff.ceiling(attempt: s.attempt)
        if let n = s.nextAttemptAt, n - now > ceiling { s.nextAttemptAt = now + ceiling }
        guard s != state else { return }
        log(.warning, "a wait ran past its maximum from now (the clock set back?): bounded again")
        state = s
        saveState()
    }

    private func startDrain() {
        guard !uploading else { return }
        guard blocker() == nil, let q = queue, q.count > 0 else {
            if !waiters.isEmpty { finishDrain() }
            return
        }
        uploading = true
        Task { await self.drain() }
    }

    private func drain() async {
        while true {
            persistPending()
            guard let q = queue, blocker() == nil else { break }
            enforceCaps() // nothing in flight between two requests
            var limit = splitRemaining > 0 ? min(splitLimit, splitRemaining) : min(config.maxBatchEvents, 1000)
            if let n = state.batch, n > 0 { limit = min(limit, n) } // a retry: the same events, no more
            let (batch, moved) = q.peek(maxEvents: limit, maxBytes: config.maxBatchBytes)
            noteQuarantined(moved)
            if batch.count == 0 {
                if let why = q.unreadable { failed("queue file unreadable for now: \(why)") } // tried again after a backoff
                break
            }
            guard await send(batch, queue: q) else { break }
        }
        uploading = false
        updateDepth()
        finishDrain()
    }

    private func finishDrain() {
        let result = result((queue?.count ?? 0) > 0 ? blocker() : nil)
        let w = waiters
        waiters = []
        for c in w { c.resume(returning: result) }
        scheduleWakeIfBlocked()
    }

    private func scheduleWakeIfBlocked() {
        let until: Double
        switch blocker() {
        case .paused(let d)?, .backoff(let d)?: until = d.timeIntervalSince1970
        default: return
        }
        wakeTask?.cancel()
        let delay = max(0, until - config.now().timeIntervalSince1970)
        wakeTask = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9) + 1_000_000)
            guard !Task.isCancelled else { return }
            await self?.wake()
        }
    }

    private func wake() {
        wakeTask = nil
        if let q = queue, q.count > 0 { startDrain() }
    }

    /// Sends one batch and settles its events. Returns whether to go on.
    private func send(_ batch: DiskQueue.Batch, queue q: DiskQueue) async -> Bool {
        let now = config.now()
        let body = await Self.body(batch.records, sentAtMs: Timestamp.ms(now), gzip: config.gzip)
        var headers = ["Authorization": "Bearer " + writeKey, "Content-Type": "application/json",
                       "User-Agent": "\(Evtrack.sdkName)/\(Evtrack.sdkVersion)"]
        if config.gzip { headers["Content-Encoding"] = "gzip" }
        let request = UploadRequest(url: url, headers: headers, body: body)
        let transport = self.transport
        let task = Task { try await transport.send(request) }
        inflight = task
        log(.debug, "sending \(batch.count) events (\(body.count) bytes)")
        let result = await task.result
        inflight = nil
        let answer: ServerAnswer
        switch result {
        case .success(let r):
            if let d = HTTPDate.parse(r.header("Date")) { serverClock = (d, config.uptime()) }
            answer = ServerAnswer.classify(r, batchCount: batch.count, now: config.now())
        case .failure(let e):
            if stopped { // cancelled at the deadline: the batch stays queued, to be sent as it was
                state.batch = batch.count
                saveState()
                return false
            }
            answer = .retry(reason: "network: \(e)")
        }
        return settle(answer, batch, q)
    }

    /// `{"sent_at":…,"events":[…]}`, gzipped: built off the actor.
    nonisolated static func body(_ records: [ArraySlice<UInt8>], sentAtMs: Int64, gzip: Bool) async -> Data {
        var b = JSONBuffer(capacity: records.reduce(64) { $0 + $1.count + 1 })
        b.raw("{\"sent_at\":")
        b.timestamp(ms: sentAtMs)
        b.raw(",\"events\":[")
        for (i, r) in records.enumerated() {
            if i > 0 { b.bytes.append(0x2C) }
            b.bytes.append(contentsOf: r)
        }
        b.raw("]}")
        if gzip, let z = Gzip.compress(b.bytes) { return z }
        return Data(b.bytes)
    }

    private func settle(_ answer: ServerAnswer, _ batch: DiskQueue.Batch, _ q: DiskQueue) -> Bool {
        let n = batch.count
        switch answer {
        case .settled(let res, let status):
            var rejected: [RejectedEvent] = []
            var seen = Set<Int>()
            for e in res.errors ?? [] where seen.insert(e.index).inserted {
                let (id, name) = Self.identify(batch.records[e.index])
                rejected.append(RejectedEvent(eventID: e.eventID ?? id, eventName: name, field: e.field, message: e.message, status: status))
            }
            let delivered = n - rejected.count
            front.withLock { s in
                s.counters.delivered += delivered
                s.counters.duplicates += min(res.duplicates, delivered)
                s.counters.rejected += rejected.count
            }
            consumed(n, q)
            succeeded()
            log(.debug, "delivered \(delivered) (\(res.duplicates) already stored), rejected \(rejected.count)")
            report(rejected)
            return true
        case .dropBatch(let status, let code, let message):
            let rejected = batch.records.map { r -> RejectedEvent in
                let (id, name) = Self.identify(r)
                return RejectedEvent(eventID: id, eventName: name, field: "(batch)", message: message, status: status, code: code)
            }
            front.withLock { $0.counters.rejected += n }
            consumed(n, q)
            succeeded()
            log(.error, "the server refused a batch of \(n) events (\(status) \(code): \(message)); dropped")
            report(rejected)
            return true
        case .split(let code, let message):
            if n == 1 {
                let (id, name) = Self.identify(batch.records[0])
                front.withLock { $0.counters.rejected += 1 }
                consumed(1, q)
                log(.error, "event \(id) alone is too large for the server (\(code)); dropped")
                report([RejectedEvent(eventID: id, eventName: name, field: "(event)", message: message, status: 413, code: code)])
            } else {
                if splitRemaining == 0 { splitRemaining = n }
                splitLimit = max(1, n / 2)
                log(.info, "413 \(code) for \(n) events: sending them \(splitLimit) at a time")
            }
            return true
        case .unauthorized(let message):
            refusedKey = writeKey
            log(.error, "401: the write key is not accepted (\(message)); uploads wait for another key")
            return false
        case .pause(let status, let code, let retryAfter):
            front.withLock { $0.counters.retries += 1 }
            state.batch = n
            if let ra = retryAfter {
                let wait = min(max(ra, 0), config.maxRetryAfter)
                state.pausedUntil = config.now().timeIntervalSince1970 + wait
                log(.warning, "\(status) \(code): pausing uploads for \(wait) s")
                saveState()
            } else {
                failed("\(status) \(code) without Retry-After")
            }
            return false
        case .retry(let reason):
            front.withLock { $0.counters.retries += 1 }
            state.batch = n
            failed(reason)
            return false
        }
    }

    private func consumed(_ n: Int, _ q: DiskQueue) {
        q.consume(n)
        if splitRemaining > 0 {
            splitRemaining = max(0, splitRemaining - n)
            if splitRemaining == 0 { splitLimit = 0 }
        }
        updateDepth()
    }

    private func succeeded() {
        guard state != UploadState() else { return }
        state = UploadState()
        saveState()
    }

    private func failed(_ reason: String) {
        state.attempt += 1
        let delay = backoff.delay(attempt: state.attempt, random: config.random())
        state.nextAttemptAt = config.now().timeIntervalSince1970 + delay
        saveState()
        log(.warning, "upload failed (\(reason)); attempt \(state.attempt), retrying in \(String(format: "%.2f", delay)) s")
    }

    /// The event_id and event_name of a queued event, for reports.
    static func identify(_ record: ArraySlice<UInt8>) -> (String, String) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any] else { return ("", "") }
        return (o["event_id"] as? String ?? "", o["event_name"] as? String ?? "")
    }

    private func report(_ rejected: [RejectedEvent]) {
        guard !rejected.isEmpty else { return }
        for r in rejected.prefix(10) {
            log(.warning, "rejected \(r.eventID) (\(r.eventName)): \(r.field): \(r.message)")
        }
        config.onRejected?(rejected)
    }

    private func noteQuarantined(_ moved: [DiskQueue.Quarantined]) {
        guard !moved.isEmpty else { return }
        let events = moved.reduce(0) { $0 + $1.events }
        front.withLock { $0.counters.quarantined += events }
        for m in moved { log(.error, "queue file \(m.file) unreadable (\(m.reason)): moved to quarantine/, \(m.events) events") }
        updateDepth()
    }

    private func log(_ level: LogLevel, _ message: String) {
        guard level >= config.logLevel, let logger = config.logger else { return }
        logger(level, message)
    }

    // MARK: - Shutdown

    /// Writes what is pending, then sends until the queue is empty, uploads
    /// are blocked, or the deadline passes (the request in flight is then
    /// cancelled; its events stay queued for the next launch). Events that
    /// could not be written to disk are in the result's `remaining`
    /// (blocker `.storage`), then dropped and counted.
    func shutdown(deadline: Date) async -> FlushResult {
        persistPending()
        let snapshot = front.withLock { $0.identity }
        writeIdentity(snapshot)
        timerTask?.cancel()
        let delay = max(0, deadline.timeIntervalSinceNow)
        let watchdog = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            guard !Task.isCancelled else { return }
            await self?.stop()
        }
        let result = await flush()
        watchdog.cancel()
        stop()
        dropUnwritten()
        return result
    }

    func stop() {
        stopped = true
        inflight?.cancel()
        wakeTask?.cancel()
        timerTask?.cancel()
        persistRetry?.cancel()
    }
}
