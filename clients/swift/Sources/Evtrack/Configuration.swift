import Foundation

/// How a client sends events. Only ``writeKey`` and ``endpoint`` are required;
/// every default is what the ingest service's limits allow
/// (services/ingest/README.md).
public struct Configuration: Sendable {
    /// The app's write key (`Authorization: Bearer <key>`).
    public var writeKey: String
    /// The ingest service's base URL; events go to `<endpoint>/v1/track`.
    public var endpoint: URL

    /// Where the queue and the client's state live. Default: Application
    /// Support/evtrack/<instanceName> (on Linux ~/.local/share/evtrack/<instanceName>).
    public var storageDirectory: URL?
    /// Tells several clients of one app apart on disk.
    public var instanceName = "default"

    /// Upload when this many events are queued.
    public var flushAt = 20
    /// Upload what is queued at this interval, in seconds.
    public var flushInterval: TimeInterval = 30
    /// Events per request (the server takes at most 1000).
    public var maxBatchEvents = 500
    /// Uncompressed JSON per request; under 1 MiB so that even incompressible
    /// events stay under the server's 1 MiB on the wire after gzip.
    public var maxBatchBytes = 1_000_000
    /// Gzip request bodies.
    public var gzip = true

    /// Queue caps: beyond any of them the oldest events are dropped (counted
    /// in ``Counters/droppedByCap``).
    public var maxQueuedEvents = 10_000
    public var maxQueueBytes = 20 * 1024 * 1024
    /// Events older than this, in seconds, are dropped unsent. An event is
    /// that old only when both the device's clock and the server's say so
    /// (the server's from the `Date` of its last answer, carried on by the
    /// time elapsed since): a clock set forward never drops events, nor one
    /// set back while it stays back; before a first answer in a process
    /// nothing is dropped by age.
    public var maxEventAge: TimeInterval = 7 * 24 * 3600

    /// A session ends after this long in the background (seconds).
    public var sessionTimeout: TimeInterval = 30 * 60

    /// Retries after a network error or a 5xx: exponential backoff with full
    /// jitter, a random wait in [0, min(retryMaxDelay, retryBaseDelay · 2^(n-1))].
    public var retryBaseDelay: TimeInterval = 1
    public var retryMaxDelay: TimeInterval = 5 * 60
    /// The longest `Retry-After` obeyed (a 429 or 503 pauses uploads this long at most).
    public var maxRetryAfter: TimeInterval = 60 * 60
    /// Timeout of one request.
    public var requestTimeout: TimeInterval = 30

    /// fsync each queue file and its folder before counting it written:
    /// survives power loss, not only a crash of the app, at some cost.
    public var fsyncWrites = false
    /// Check events against the server's rules before queueing them (an
    /// invalid event is reported at once). Turn off only to test the server.
    public var validatesLocally = true
    /// Observe UIKit's foreground/background notifications (iOS, tvOS):
    /// flush in a background task, roll the session after ``sessionTimeout``.
    public var observesAppLifecycle = true

    /// App and device facts sent with every event.
    public var context: EventContext = .current()
    /// The HTTP client; by default URLSession.
    public var transport: (any Transport)?

    /// Called with events the server (or the client's own check) refused,
    /// each with its field and reason. Called on an arbitrary thread.
    public var onRejected: (@Sendable ([RejectedEvent]) -> Void)?
    /// Debug log lines at or above ``logLevel``. Called on an arbitrary thread.
    public var logger: (@Sendable (LogLevel, String) -> Void)?
    public var logLevel = LogLevel.info

    /// The clock (tests move it).
    var now: @Sendable () -> Date = { Date() }
    /// Seconds since the system started, which a change of the clock does
    /// not move (tests move it); it may pause while the device sleeps.
    var uptime: @Sendable () -> TimeInterval = { ProcessInfo.processInfo.systemUptime }
    /// Uniform in [0, 1) for the backoff's jitter (tests fix it).
    var random: @Sendable () -> Double = { Double.random(in: 0..<1) }

    public init(writeKey: String, endpoint: URL) {
        self.writeKey = writeKey
        self.endpoint = endpoint
    }
}

public enum LogLevel: Int, Sendable, Comparable, CustomStringConvertible {
    case debug, info, warning, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["debug", "info", "warning", "error"][rawValue] }
}

/// What happened to the events the app tracked, since this client started.
public struct Counters: Sendable, Equatable, CustomStringConvertible {
    /// Accepted by `track` (queued for sending).
    public var queued = 0
    /// Stored by the server: accepted, or already stored (a retry); includes ``duplicates``.
    public var delivered = 0
    /// Of ``delivered``, those the server already had (a retry of a stored batch).
    public var duplicates = 0
    /// Refused, by the server or by the client's own check, and reported.
    public var rejected = 0
    /// Dropped, oldest first, because the queue was over a cap (count, bytes, age).
    public var droppedByCap = 0
    /// In queue files that could not be read back, moved aside.
    public var quarantined = 0
    /// Never written to disk (a full disk, an unusable folder) and still in
    /// memory when the client shut down: dropped with it.
    public var droppedUnwritten = 0
    /// Requests that failed and will be retried (network, 5xx, 429, 503).
    public var retries = 0
    /// Events waiting now (in memory or on disk).
    public var inQueue = 0

    public init() {}

    public var description: String {
        "queued=\(queued) delivered=\(delivered) duplicates=\(duplicates) rejected=\(rejected) "
            + "droppedByCap=\(droppedByCap) quarantined=\(quarantined) droppedUnwritten=\(droppedUnwritten) retries=\(retries) inQueue=\(inQueue)"
    }
}

/// An event that will never be stored, and why.
public struct RejectedEvent: Sendable, Equatable {
    public var eventID: String
    public var eventName: String
    /// The field at fault, as the server names it (`event_name`, `metadata.plan`,
    /// `(event)` for the event as a whole, `(batch)` when the whole request was refused).
    public var field: String
    public var message: String
    /// The HTTP status that refused it; nil when the client refused it before queueing.
    public var status: Int?
    /// The server's error code for a refused request (`unsupported_media_type`, `body_too_large`, …).
    public var code: String?

    public init(eventID: String, eventName: String, field: String, message: String, status: Int? = nil, code: String? = nil) {
        self.eventID = eventID
        self.eventName = eventName
        self.field = field
        self.message = message
        self.status = status
        self.code = code
    }
}

/// How a flush ended.
public struct FlushResult: Sendable, Equatable {
    /// Why uploading stopped with events still queued.
    public enum Blocker: Sendable, Equatable {
        /// 429 or 503: the server asked to wait (`Retry-After`).
        case paused(until: Date)
        /// A network error, a 5xx, or a queue file that cannot be read for
        /// now (no file descriptor left, locked by Data Protection): the next
        /// attempt is due then.
        case backoff(until: Date)
        /// 401: waiting for a new write key (``Evtrack/setWriteKey(_:)``).
        case unauthorized
        /// The deadline of ``Evtrack/shutdown(deadline:)`` passed, or the client is shut down.
        case stopped
        /// Events could not be written to disk (the disk is full, the folder
        /// unusable): they wait in memory, counted in ``FlushResult/remaining``,
        /// and the write is tried again (every second, on each `track` and
        /// `flush`). Reported before any other blocker. After
        /// ``Evtrack/shutdown(deadline:)`` they are dropped and counted in
        /// ``Counters/droppedUnwritten``.
        case storage
    }

    /// Events not sent: queued on disk, or waiting in memory for a write
    /// that failed (``Blocker/storage``).
    public var remaining: Int
    public var blocker: Blocker?
    public var isComplete: Bool { remaining == 0 && blocker == nil }

    public init(remaining: Int, blocker: Blocker?) {
        self.remaining = remaining
        self.blocker = blocker
    }
}

public enum EvtrackError: Error, Equatable {
    /// Another client (in this process or another) uses the storage folder.
    case storageInUse(String)
    /// The storage folder cannot be created or opened.
    case storageUnavailable(String)
    case invalidConfiguration(String)
}
