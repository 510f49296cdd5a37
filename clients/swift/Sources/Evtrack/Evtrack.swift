import Foundation

/// The client an app creates once and keeps: `track` queues an event on disk
/// and returns at once; the client uploads in the background, one request at
/// a time, and never loses or doubles an event on a retry.
///
/// ```swift
/// let analytics = try Evtrack(configuration: .init(writeKey: "…", endpoint: URL(string: "https://ingest.example.com")!))
/// analytics.track("checkout_completed", metadata: ["items": 3, "plan": "pro"])
/// ```
public final class Evtrack: Sendable {
    public static let sdkName = "evtrack-swift"
    public static let sdkVersion = "0.1.0"

    public let configuration: Configuration
    /// The folder of the queue and the client's state.
    public let storageDirectory: URL
    let front: Locked<FrontState>
    let pipeline: Pipeline
    private let folderLock: FolderLock
    private let lifecycle: Locked<AnyObject?>

    /// Opens (or creates) the client's folder, takes its lock, reads the
    /// identity, and starts sending what an earlier run left queued.
    ///
    /// Throws ``EvtrackError/storageInUse(_:)`` when another live client uses
    /// the same folder (give each its own ``Configuration/instanceName``).
    public init(configuration: Configuration) throws {
        let c = configuration
        guard !c.writeKey.isEmpty else { throw EvtrackError.invalidConfiguration("writeKey is empty") }
        guard ["http", "https"].contains(c.endpoint.scheme?.lowercased() ?? "") else {
            throw EvtrackError.invalidConfiguration("endpoint must be an http(s) URL")
        }
        guard (1...1000).contains(c.maxBatchEvents), c.flushAt >= 1, c.maxQueuedEvents >= 1 else {
            throw EvtrackError.invalidConfiguration("maxBatchEvents must be 1-1000, flushAt and maxQueuedEvents at least 1")
        }
        self.configuration = c
        storageDirectory = c.storageDirectory ?? Self.defaultDirectory(instance: c.instanceName)
        let dir = storageDirectory.path
        do {
            try FileIO.makeDirectory(dir)
        } catch {
            throw EvtrackError.storageUnavailable("\(error)")
        }
        folderLock = try FolderLock(dir)

        let nowMs = Timestamp.ms(c.now())
        var identity = FileIO.read(dir + "/identity.json")
            .flatMap { try? JSONDecoder().decode(Identity.self, from: Data($0)) } ?? Identity.fresh(nowMs: nowMs)
        let fresh = identity.lastActiveMs == nowMs
        // A new session when the app comes back after the timeout.
        let since = nowMs - max(identity.lastActiveMs, identity.backgroundedAtMs ?? 0)
        if !fresh, since >= Int64(c.sessionTimeout * 1000) { identity.sessionID = UUIDv7.make(ms: nowMs) }
        identity.backgroundedAtMs = nil
        identity.lastActiveMs = nowMs
        front = Locked(FrontState(identity: identity, context: c.context))
        pipeline = Pipeline(config: c, directory: dir, front: front)
        lifecycle = Locked(nil)
        let p = pipeline
        Task { await p.start() }
        if c.observesAppLifecycle { lifecycle.withLock { $0 = AppLifecycle.observe(self) } }
    }

    static func defaultDirectory(instance: String) -> URL {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask).first
            ?? URL(fileURLWithPath: NSTemporaryDirectory())
        return base.appendingPathComponent("evtrack").appendingPathComponent(instance)
    }

    // MARK: - Tracking

    /// Queues an event and returns its `event_id` (UUIDv7), or nil when the
    /// event was not queued (opted out, shut down, or refused by the client's
    /// own check of the server's rules — then reported to
    /// ``Configuration/onRejected``).
    ///
    /// Never blocks on I/O: the event is encoded here, with its id and
    /// `client_timestamp` fixed for every retry, and handed to the pipeline,
    /// which writes it to disk within ``Pipeline/persistDelay`` (2 ms, so
    /// that a burst is written as one file) plus the write itself;
    /// ``flush()`` and ``shutdown(deadline:)`` write first.
    @discardableResult
    public func track(_ name: String, metadata: Metadata = [:], message: String? = nil) -> String? {
        let ms = Timestamp.ms(configuration.now())
        let timeoutMs = Int64(configuration.sessionTimeout * 1000)
        let snap = front.withLock { s -> ([UInt8], [UInt8], Int)? in
            if s.closed || s.identity.optedOut { return nil }
            if let bg = s.identity.backgroundedAtMs, ms - bg >= timeoutMs {
                s.rollSession(nowMs: ms) // tracked from the background, after the timeout
                s.identity.backgroundedAtMs = ms
            }
            s.identity.lastActiveMs = ms
            return (s.identityJSON, s.contextJSON, s.fixedBytes)
        }
        guard let (identity, context, fixed) = snap else { return nil }
        let id = UUIDv7.make(ms: ms)
        if configuration.validatesLocally,
           let (field, why) = EventRules.check(name: name, metadata: metadata, message: message, fixedBytes: fixed) {
            front.withLock { $0.counters.rejected += 1 }
            log(.warning, "rejected \(id) (\(name)) before queueing: \(field): \(why)")
            configuration.onRejected?([RejectedEvent(eventID: id, eventName: name, field: field, message: why)])
            return nil
        }
        let json = EventEncoder.encode(id: id, name: name, ms: ms, identity: identity, context: context,
                                       metadata: metadata, message: message)
        let max = configuration.maxQueuedEvents
        let queued = front.withLock { s -> Bool? in
            // Checked again under the lock that shutdown's final write takes:
            // an event is either written by it or not queued at all.
            if s.closed { return nil }
            s.pending.append(PendingEvent(json: json, ms: ms))
            s.counters.queued += 1
            if s.pending.count > max { // only while the disk cannot keep up or is failing
                s.pending.removeFirst()
                s.counters.droppedByCap += 1
            }
            s.counters.inQueue = s.pending.count + s.onDisk
            if s.persistScheduled { return false }
            s.persistScheduled = true
            return true
        }
        guard let wake = queued else { return nil }
        if wake {
            let p = pipeline
            Task { await p.persistSoon() }
        }
        return id
    }

    // MARK: - Identity

    /// Events from now on carry this `user_id`. Returns false (and changes
    /// nothing) for an id the server would refuse (empty, over 256
    /// characters, or with a control character: event.proto's rule).
    @discardableResult
    public func identify(userID: String) -> Bool {
        if let (_, why) = EventRules.check(userID, field: "user_id", required: true) {
            log(.error, "identify ignored: user_id \(why)")
            return false
        }
        front.withLock { s in
            s.identity.userID = userID
            s.identityChanged()
        }
        schedulePersist()
        return true
    }

    /// Signs the user out: no `user_id`, a new `anonymous_id` and a new session.
    public func reset() {
        let ms = Timestamp.ms(configuration.now())
        front.withLock { s in
            let optedOut = s.identity.optedOut
            s.identity = Identity.fresh(nowMs: ms)
            s.identity.optedOut = optedOut
            s.identityChanged()
        }
        schedulePersist()
    }

    /// Stable across launches until ``reset()``.
    public var anonymousID: String { front.withLock { $0.identity.anonymousID } }
    public var userID: String? { front.withLock { $0.identity.userID } }
    public var sessionID: String { front.withLock { $0.identity.sessionID } }

    /// While opted out, `track` records nothing (persisted across launches).
    /// Events queued before are still sent.
    public var isOptedOut: Bool { front.withLock { $0.identity.optedOut } }

    public func setOptOut(_ optedOut: Bool) {
        front.withLock { s in
            s.identity.optedOut = optedOut
            s.identityDirty = true
        }
        schedulePersist()
    }

    /// A new write key, e.g. after a 401 paused uploads (they resume).
    public func setWriteKey(_ key: String) {
        let p = pipeline
        Task { await p.setWriteKey(key) }
    }

    /// Counters since this client started.
    public var counters: Counters { front.withLock { $0.counters } }

    // MARK: - Flushing and shutdown

    /// Sends what is queued now. Returns when the queue is empty or uploads
    /// are blocked (the result says by what: a server pause, a backoff, a
    /// refused key, events the disk could not take); the client keeps
    /// retrying by itself.
    @discardableResult
    public func flush() async -> FlushResult {
        await pipeline.flush()
    }

    /// ``flush()`` for callers without async; completion runs on an arbitrary thread.
    public func flush(completion: @escaping @Sendable (FlushResult) -> Void) {
        let p = pipeline
        Task { completion(await p.flush()) }
    }

    /// Stops tracking, writes every event to disk, and sends until the queue
    /// is empty or the deadline passes. Events not sent stay queued for the
    /// next launch, except those that could not be written to disk: they are
    /// in the result's `remaining` with the blocker `.storage`, then dropped
    /// and counted in ``Counters/droppedUnwritten``. The folder is unlocked
    /// afterwards.
    @discardableResult
    public func shutdown(deadline: Date) async -> FlushResult {
        front.withLock { $0.closed = true }
        lifecycle.withLock { $0 = nil }
        let r = await pipeline.shutdown(deadline: deadline)
        folderLock.release()
        return r
    }

    // MARK: - App lifecycle (called by the UIKit observer; call them yourself elsewhere)

    /// The app went to the background: remember when (for the session), and
    /// send what is queued (inside a background task on iOS).
    public func applicationDidEnterBackground() {
        let ms = Timestamp.ms(configuration.now())
        front.withLock { s in
            s.identity.backgroundedAtMs = ms
            s.identityDirty = true
        }
        let p = pipeline
        AppLifecycle.runInBackground { await p.flush() }
    }

    /// The app is back: a new session if it was away longer than the timeout;
    /// locale and time zone read again.
    public func applicationWillEnterForeground() {
        let ms = Timestamp.ms(configuration.now())
        let timeoutMs = Int64(configuration.sessionTimeout * 1000)
        var context = configuration.context
        let current = EventContext.current()
        context.locale = current.locale
        context.timezone = current.timezone
        front.withLock { s in
            if let bg = s.identity.backgroundedAtMs, ms - bg >= timeoutMs { s.rollSession(nowMs: ms) }
            s.identity.backgroundedAtMs = nil
            s.identity.lastActiveMs = ms
            s.identityDirty = true
            s.setContext(context)
        }
        schedulePersist()
    }

    /// Tests: queues an event's JSON exactly as given (a fixture's event).
    func enqueueRaw(_ json: [UInt8]) {
        let ms = Timestamp.ms(configuration.now())
        front.withLock { s in
            s.pending.append(PendingEvent(json: json, ms: ms))
            s.counters.queued += 1
        }
        schedulePersist()
    }

    private func schedulePersist() {
        let p = pipeline
        Task { await p.persistPending() }
    }

    private func log(_ level: LogLevel, _ message: String) {
        guard level >= configuration.logLevel, let logger = configuration.logger else { return }
        logger(level, message)
    }
}
