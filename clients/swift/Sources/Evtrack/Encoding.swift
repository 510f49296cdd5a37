import Foundation

/// Hand-written JSON for the hot path: `track` encodes its event once, into
/// the exact bytes later sent inside the batch, without Foundation's encoders.
struct JSONBuffer {
    var bytes: [UInt8]

    init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    /// A JSON string: quoted, with `"`, `\` and control characters escaped.
    mutating func string(_ s: String) {
        bytes.append(0x22)
        var s = s
        s.withUTF8 { buf in
            var start = 0
            for i in 0..<buf.count {
                let c = buf[i]
                guard c < 0x20 || c == 0x22 || c == 0x5C else { continue }
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i])) }
                start = i + 1
                switch c {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    bytes.append(Self.hex[Int(c >> 4)])
                    bytes.append(Self.hex[Int(c & 0xF)])
                }
            }
            if start < buf.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<buf.count])) }
        }
        bytes.append(0x22)
    }

    /// `,"key":"value"` — the key is a literal that needs no escaping.
    mutating func field(_ key: StaticString, _ value: String?) {
        guard let value, !value.isEmpty else { return }
        raw(",\"")
        raw(key)
        raw("\":")
        string(value)
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two decimal digits, or more with zero padding.
    @inline(__always)
    mutating func digits(_ v: Int, width: Int) {
        var d = width
        var div = 1
        while d > 1 { div *= 10; d -= 1 }
        var v = v
        while div > 0 {
            bytes.append(UInt8(truncatingIfNeeded: 0x30 + (v / div) % 10))
            v %= div
            div /= 10
        }
    }

    /// RFC 3339 in UTC with milliseconds: `2026-12-01T07:03:12.123Z`.
    mutating func timestamp(ms: Int64) {
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = Int(ms - days * 86_400_000)
        // Howard Hinnant's civil_from_days.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        bytes.append(0x22)
        digits(Int(y), width: 4); bytes.append(0x2D)
        digits(Int(m), width: 2); bytes.append(0x2D)
        digits(Int(d), width: 2); bytes.append(0x54)
        digits(msOfDay / 3_600_000, width: 2); bytes.append(0x3A)
        digits(msOfDay / 60_000 % 60, width: 2); bytes.append(0x3A)
        digits(msOfDay / 1000 % 60, width: 2); bytes.append(0x2E)
        digits(msOfDay % 1000, width: 3); bytes.append(0x5A)
        bytes.append(0x22)
    }
}

enum Timestamp {
    /// RFC 3339 (UTC, milliseconds) of a time in milliseconds since 1970.
    static func rfc3339(ms: Int64) -> String {
        var b = JSONBuffer(capacity: 32)
        b.timestamp(ms: ms)
        return String(decoding: b.bytes.dropFirst().dropLast(), as: UTF8.self)
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits,
/// so ids sort by creation time. Lower-case, 36 characters.
enum UUIDv7 {
    static func make(ms: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        let r1 = rng.next() as UInt64
        let r2 = rng.next() as UInt64
        var b = [UInt8](repeating: 0, count: 16)
        let t = UInt64(bitPattern: ms)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: t >> (40 - 8 * UInt64(i))) }
        for i in 0..<2 { b[6 + i] = UInt8(truncatingIfNeeded: r1 >> (8 * UInt64(i))) }
        for i in 0..<8 { b[8 + i] = UInt8(truncatingIfNeeded: r2 >> (8 * UInt64(i))) }
        b[6] = 0x70 | (b[6] & 0x0F) // version 7
        b[8] = 0x80 | (b[8] & 0x3F) // variant 10
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, byte) in b.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
            out.append(JSONBuffer.hex[Int(byte >> 4)])
            out.append(JSONBuffer.hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
