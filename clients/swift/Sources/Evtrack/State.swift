import Foundation

/// Who the events are about, persisted in `identity.json`.
struct Identity: Codable, Equatable, Sendable {
    var anonymousID: String
    var userID: String?
    var sessionID: String
    /// When the app last tracked or was in the foreground (ms since 1970).
    var lastActiveMs: Int64
    /// Set while the app is in the background.
    var backgroundedAtMs: Int64?
    var optedOut: Bool

    static func fresh(nowMs: Int64) -> Identity {
        Identity(anonymousID: UUID().uuidString.lowercased(), userID: nil, sessionID: UUIDv7.make(ms: nowMs),
                 lastActiveMs: nowMs, backgroundedAtMs: nil, optedOut: false)
    }

    /// `,"anonymous_id":…,"user_id":…,"session_id":…` and the bytes of those values.
    func encoded() -> ([UInt8], Int) {
        var b = JSONBuffer(capacity: 160)
        b.field("anonymous_id", anonymousID)
        b.field("user_id", userID)
        b.field("session_id", sessionID)
        return (b.bytes, anonymousID.utf8.count + (userID?.utf8.count ?? 0) + sessionID.utf8.count)
    }
}

/// What `track` reads and writes, behind one lock: identity, the events not
/// yet written to disk, counters.
struct FrontState {
    var identity: Identity
    var identityJSON: [UInt8]
    var contextJSON: [UInt8]
    /// Bytes of the values every event carries (identity, context, id, timestamp).
    var fixedBytes: Int
    var pending: [PendingEvent] = []
    var persistScheduled = false
    var closed = false
    var identityDirty = false
    var counters = Counters()
    var onDisk = 0

    init(identity: Identity, context: EventContext) {
        self.identity = identity
        identityJSON = []
        contextJSON = []
        fixedBytes = 0
        setContext(context)
        identityChanged()
    }

    mutating func identityChanged() {
        let (json, bytes) = identity.encoded()
        identityJSON = json
        fixedBytes = bytes + contextBytes + 36 + 24
        identityDirty = true
    }

    private var contextBytes = 0

    mutating func setContext(_ context: EventContext) {
        let c = context.fitted()
        contextJSON = c.encoded()
        contextBytes = [c.appVersion, c.deviceOS ?? "\(c.osName ?? "") \(c.osVersion ?? "")", c.osName, c.osVersion, c.deviceModel, c.locale, c.timezone,
                        Evtrack.sdkName, Evtrack.sdkVersion].reduce(0) { $0 + ($1?.utf8.count ?? 0) }
        let (_, idBytes) = identity.encoded()
        fixedBytes = idBytes + contextBytes + 36 + 24
    }

    mutating func rollSession(nowMs: Int64) {
        identity.sessionID = UUIDv7.make(ms: nowMs)
        identityChanged()
    }

    mutating func refreshDepth() { counters.inQueue = pending.count + onDisk }
}

/// The uploader's state that outlives the process (`state.json`): a relaunch
/// neither forgets a backoff nor ignores a Retry-After.
struct UploadState: Codable, Equatable, Sendable {
    /// Consecutive failed attempts (network, 5xx).
    var attempt = 0
    /// No request before this (seconds since 1970): backoff.
    var nextAttemptAt: Double?
    /// No request before this: the server's Retry-After.
    var pausedUntil: Double?
    /// Events of the request that failed: the retry carries exactly these,
    /// so the server recognises it by its event ids (ingest stores a retried
    /// batch once and answers `duplicates`); events queued since wait for
    /// the next request.
    var batch: Int?
}
