import Foundation

/// `/v1/track`'s answer body for 202 (and for 400 `no_valid_events`).
struct TrackResult: Codable, Equatable, Sendable {
    struct EventError: Codable, Equatable, Sendable {
        var index: Int
        var eventID: String?
        var field: String
        var message: String

        enum CodingKeys: String, CodingKey {
            case index, field, message
            case eventID = "event_id"
        }
    }

    var accepted: Int
    var rejected: Int
    var duplicates: Int
    var errors: [EventError]?
}

/// `/v1/track`'s error body: `{"error":{"code":…,"message":…}}`.
struct ErrorBody: Codable, Equatable, Sendable {
    struct Detail: Codable, Equatable, Sendable {
        var code: String
        var message: String
    }

    var error: Detail
}

/// What the server's answer means for the batch that was sent
/// (services/ingest/README.md is the contract).
enum ServerAnswer: Equatable, Sendable {
    /// Stored: every event not named in the errors is delivered (`accepted`
    /// and `duplicates` alike); those named are dropped with their reasons.
    case settled(TrackResult, status: Int)
    /// 400 or 415 for the whole request, in the service's error body: no
    /// event of it can ever be stored.
    case dropBatch(status: Int, code: String, message: String)
    /// 413: too large; send it in halves (one event alone: drop it).
    case split(code: String, message: String)
    /// 401: the write key is not accepted; wait for another.
    case unauthorized(message: String)
    /// 429 or 503: nothing stored; the whole pipeline waits (`Retry-After`,
    /// seconds; nil when absent or unreadable: back off instead).
    case pause(status: Int, code: String, retryAfter: TimeInterval?)
    /// Another 5xx, an unexpected answer or a network error: back off and retry.
    case retry(reason: String)

    static func classify(_ r: UploadResponse, batchCount: Int, now: Date) -> ServerAnswer {
        let err = try? JSONDecoder().decode(ErrorBody.self, from: r.body)
        let code = err?.error.code ?? "http_\(r.status)"
        let message = err?.error.message ?? "HTTP \(r.status)"
        switch r.status {
        case 200...299:
            // Only the service's own answer counts: a captive portal's 200
            // page must not pass for delivery.
            guard let res = try? JSONDecoder().decode(TrackResult.self, from: r.body),
                  (res.errors ?? []).allSatisfy({ $0.index >= 0 && $0.index < batchCount }) else {
                return .retry(reason: "\(r.status) without a /v1/track result")
            }
            return .settled(res, status: r.status)
        case 400:
            if err == nil, let res = try? JSONDecoder().decode(TrackResult.self, from: r.body),
               (res.errors ?? []).allSatisfy({ $0.index >= 0 && $0.index < batchCount }) {
                return .settled(res, status: 400) // no_valid_events: each event's reason
            }
            // Only the service's own refusal drops events: a proxy's, a load
            // balancer's or a captive portal's page says nothing about them.
            guard err != nil else { return .retry(reason: "400 without a /v1/track error") }
            return .dropBatch(status: 400, code: code, message: message)
        case 415:
            guard err != nil else { return .retry(reason: "415 without a /v1/track error") }
            return .dropBatch(status: 415, code: code, message: message)
        case 401:
            return .unauthorized(message: message)
        case 413:
            return .split(code: code, message: message)
        case 429, 503:
            return .pause(status: r.status, code: code, retryAfter: RetryAfter.parse(r.header("Retry-After"), now: now))
        default:
            return .retry(reason: "\(r.status) \(code)")
        }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
enum RetryAfter {
    /// Seconds to wait from now, or nil when the value is neither form.
    static func parse(_ value: String?, now: Date) -> TimeInterval? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        if v.allSatisfy(\.isASCII), v.allSatisfy(\.isNumber) {
            return TimeInterval(Int(v.prefix(10)) ?? Int.max)
        }
        return HTTPDate.parse(v).map { max(0, $0.timeIntervalSince(now)) }
    }
}

/// An HTTP-date (RFC 9110 §5.6.7), as in `Date` and `Retry-After`.
enum HTTPDate {
    static func parse(_ value: String?) -> Date? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        // IMF-fixdate, then the obsolete RFC 850 and asctime forms.
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            f.dateFormat = format
            if let d = f.date(from: v) { return d }
        }
        return nil
    }
}

/// Exponential backoff with full jitter: the n-th consecutive failure waits
/// a uniformly random time in [0, min(max, base · 2^(n-1))].
struct Backoff: Sendable {
    var base: TimeInterval
    var max: TimeInterval

    func ceiling(attempt: Int) -> TimeInterval {
        let exp = Double(Swift.min(Swift.max(attempt - 1, 0), 62))
        return Swift.min(max, base * pow(2, exp))
    }

    func delay(attempt: Int, random: Double) -> TimeInterval {
        ceiling(attempt: attempt) * Swift.min(Swift.max(random, 0), 1)
    }
}
