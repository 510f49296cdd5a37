import Foundation

/// A metadata value: `/v1/track` stores strings, numbers and booleans (numbers
/// exactly as sent). Literals work: `["plan": "pro", "items": 3, "trial": false]`.
public enum MetadataValue: Sendable, Hashable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    /// The value as the server stores it.
    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? "\(d)" : "\(d)"
        case .bool(let b): return b ? "true" : "false"
        }
    }

    func encode(into b: inout JSONBuffer) {
        switch self {
        case .string(let s): b.string(s)
        case .int(let i): b.bytes.append(contentsOf: String(i).utf8)
        // JSON has no NaN or infinity: those travel as strings.
        case .double(let d) where !d.isFinite: b.string("\(d)")
        case .double(let d): b.bytes.append(contentsOf: "\(d)".utf8)
        case .bool(let v): b.raw(v ? "true" : "false")
        }
    }
}

public typealias Metadata = [String: MetadataValue]

/// Facts about the app and device sent with every event as top-level fields
/// of `/v1/track` (never inside `metadata`). ``EventContext/current()`` reads
/// them from the platform; set any of them in ``Configuration/context``.
public struct EventContext: Sendable, Equatable {
    public var appVersion: String?
    /// Free text such as "iOS 18.1"; by default `osName osVersion`.
    public var deviceOS: String?
    public var osName: String?
    public var osVersion: String?
    /// Hardware model such as "iPhone15,2", where the platform gives it.
    public var deviceModel: String?
    /// BCP 47, e.g. "en-GB".
    public var locale: String?
    /// IANA, e.g. "Europe/London".
    public var timezone: String?

    public init(appVersion: String? = nil, deviceOS: String? = nil, osName: String? = nil, osVersion: String? = nil,
                deviceModel: String? = nil, locale: String? = nil, timezone: String? = nil) {
        self.appVersion = appVersion
        self.deviceOS = deviceOS
        self.osName = osName
        self.osVersion = osVersion
        self.deviceModel = deviceModel
        self.locale = locale
        self.timezone = timezone
    }

    /// Every value fitted to its field's rule (``EventRules/fit(_:field:)``).
    func fitted() -> EventContext {
        EventContext(appVersion: EventRules.fit(appVersion, field: "app_version"),
                     deviceOS: EventRules.fit(deviceOS, field: "device_os"),
                     osName: EventRules.fit(osName, field: "os_name"), osVersion: EventRules.fit(osVersion, field: "os_version"),
                     deviceModel: EventRules.fit(deviceModel, field: "device_model"),
                     locale: EventRules.fit(locale, field: "locale"), timezone: EventRules.fit(timezone, field: "timezone"))
    }

    /// `,"app_version":…,"sdk_version":…`: appended to every event.
    func encoded() -> [UInt8] {
        var b = JSONBuffer(capacity: 256)
        b.field("app_version", appVersion)
        b.field("device_os", deviceOS ?? EventRules.fit([osName, osVersion].compactMap { $0 }.joined(separator: " "), field: "device_os"))
        b.field("os_name", osName)
        b.field("os_version", osVersion)
        b.field("device_model", deviceModel)
        b.field("locale", locale)
        b.field("timezone", timezone)
        b.field("sdk_name", Evtrack.sdkName)
        b.field("sdk_version", Evtrack.sdkVersion)
        return b.bytes
    }
}

/// The server's input rules an SDK can check before queueing an event: the
/// per-field rules come from event.proto (``EventFields``, generated); the
/// metadata and size limits are the ingest service's defaults
/// (services/ingest/README.md). An event the server would refuse is reported
/// at once instead of travelling.
enum EventRules {
    static let maxMetadataKeys = 100 // INGEST_MAX_METADATA_KEYS
    static let maxMetadataKeyChars = 128
    static let maxEventBytes = 32 * 1024 // INGEST_MAX_EVENT_BYTES

    static func rule(_ field: String) -> EventFields.Rule {
        guard let r = EventFields.all[field] ?? nil else { preconditionFailure("no string field \(field) in telemetry.v1.Event") }
        return r
    }

    static let eventName = rule("event_name")

    /// A C0 or C1 control character or DEL: refused in every id and name.
    static func hasControl(_ s: String) -> Bool {
        for u in s.unicodeScalars where u.value < 0x20 || (u.value >= 0x7F && u.value <= 0x9F) { return true }
        return false
    }

    /// nil, or (field, message) saying why the value cannot be sent in field.
    static func check(_ s: String, field: String, required: Bool = false) -> (String, String)? {
        let r = rule(field)
        if s.isEmpty, required || r.required { return (field, "required") }
        if r.maxChars > 0, s.unicodeScalars.count > r.maxChars { return (field, "longer than \(r.maxChars) characters") }
        if r.identifier, hasControl(s) { return (field, "contains a control character") }
        return nil
    }

    /// The value made acceptable for field: control characters removed
    /// where the field refuses them, cut to its length. For context values,
    /// which must never make every event invalid.
    static func fit(_ s: String?, field: String) -> String? {
        guard var s else { return nil }
        let r = rule(field)
        if r.identifier, hasControl(s) {
            s = String(String.UnicodeScalarView(s.unicodeScalars.filter { !($0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F)) }))
        }
        if r.maxChars > 0, s.unicodeScalars.count > r.maxChars {
            s = String(String.UnicodeScalarView(s.unicodeScalars.prefix(r.maxChars)))
        }
        return s.isEmpty ? nil : s
    }

    /// nil, or (field, message) in the server's words.
    static func check(name: String, metadata: Metadata, message: String?, fixedBytes: Int) -> (String, String)? {
        if let bad = check(name, field: "event_name") { return bad }
        if metadata.count > maxMetadataKeys { return ("metadata", "more than \(maxMetadataKeys) keys") }
        var size = fixedBytes + name.utf8.count + (message?.utf8.count ?? 0)
        for (k, v) in metadata {
            if k.isEmpty || k.unicodeScalars.count > maxMetadataKeyChars {
                return ("metadata", "keys must be 1-\(maxMetadataKeyChars) characters")
            }
            size += k.utf8.count + v.description.utf8.count
        }
        if size > maxEventBytes { return ("(event)", "larger than \(maxEventBytes) bytes") }
        return nil
    }
}

/// One event as queued: its JSON object, exactly as it will be sent, and the
/// time it was tracked (for the age cap).
struct PendingEvent: Sendable {
    var json: [UInt8]
    var ms: Int64
}

enum EventEncoder {
    /// `{"event_id":…,"event_name":…,"client_timestamp":…` + identity + context + metadata + message `}`.
    static func encode(id: String, name: String, ms: Int64, identity: [UInt8], context: [UInt8],
                       metadata: Metadata, message: String?) -> [UInt8] {
        var b = JSONBuffer(capacity: 192 + identity.count + context.count + metadata.count * 32 + (message?.utf8.count ?? 0))
        b.raw("{\"event_id\":\"")
        b.bytes.append(contentsOf: id.utf8)
        b.raw("\",\"event_name\":")
        b.string(name)
        b.raw(",\"client_timestamp\":")
        b.timestamp(ms: ms)
        b.raw(identity)
        b.raw(context)
        if !metadata.isEmpty {
            b.raw(",\"metadata\":{")
            var first = true
            // Sorted keys: the same event always has the same bytes.
            for k in metadata.keys.sorted() {
                if !first { b.bytes.append(0x2C) }
                first = false
                b.string(k)
                b.bytes.append(0x3A)
                metadata[k]!.encode(into: &b)
            }
            b.bytes.append(0x7D)
        }
        b.field("message", message)
        b.bytes.append(0x7D)
        return b.bytes
    }
}
