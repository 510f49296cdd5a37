import Foundation
#if canImport(UIKit) && !os(watchOS)
import UIKit
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventContext {
    /// What the platform says about the app and the device: the bundle's
    /// version, OS name and version, hardware model, locale and time zone.
    public static func current(bundle: Bundle = .main) -> EventContext {
        var c = EventContext()
        if let v = bundle.infoDictionary?["CFBundleShortVersionString"] as? String {
            let build = bundle.infoDictionary?["CFBundleVersion"] as? String
            c.appVersion = build.map { $0 == v ? v : "\(v) (\($0))" } ?? v
        }
        let (name, version) = operatingSystem()
        c.osName = name
        c.osVersion = version
        c.deviceOS = "\(name) \(version)"
        c.deviceModel = hardwareModel()
        c.locale = bcp47(Locale.current.identifier)
        c.timezone = TimeZone.current.identifier
        return c
    }

    /// "en_GB" → "en-GB"; "en_US_POSIX" → "en-US"; "" or "C" → nil.
    static func bcp47(_ identifier: String) -> String? {
        let base = identifier.split(separator: "@").first.map(String.init) ?? identifier
        var parts = base.split(whereSeparator: { $0 == "_" || $0 == "-" }).map(String.init)
        if parts.last?.uppercased() == "POSIX" { parts.removeLast() }
        guard let lang = parts.first, lang.count >= 2, lang.count <= 8, lang.allSatisfy(\.isLetter) else { return nil }
        let out = parts.joined(separator: "-")
        return out.count <= 35 ? out : lang
    }

    static func operatingSystem() -> (String, String) {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        var version = "\(v.majorVersion).\(v.minorVersion)"
        if v.patchVersion > 0 { version += ".\(v.patchVersion)" }
        #if os(iOS) || os(tvOS) || os(visionOS)
        return (MainThreadValue.systemName ?? "iOS", version)
        #elseif os(macOS)
        return ("macOS", version)
        #elseif os(watchOS)
        return ("watchOS", version)
        #elseif os(Linux)
        return ("Linux", version)
        #elseif os(Android)
        return ("Android", version)
        #else
        return ("unknown", version)
        #endif
    }

    /// iPhone15,2 on devices (the simulator says which model it simulates),
    /// Mac14,2 on Macs, the DMI product name on Linux where readable.
    static func hardwareModel() -> String? {
        #if targetEnvironment(simulator)
        return ProcessInfo.processInfo.environment["SIMULATOR_MODEL_IDENTIFIER"]
        #elseif os(macOS)
        var size = 0
        sysctlbyname("hw.model", nil, &size, nil, 0)
        guard size > 0 else { return nil }
        var buf = [CChar](repeating: 0, count: size)
        sysctlbyname("hw.model", &buf, &size, nil, 0)
        return String(cString: buf)
        #elseif canImport(Darwin)
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        #else
        let s = (try? String(contentsOfFile: "/sys/devices/virtual/dmi/id/product_name", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let s, !s.isEmpty, !EventRules.hasControl(s) else { return nil }
        return String(s.prefix(128))
        #endif
    }
}

#if os(iOS) || os(tvOS) || os(visionOS)
/// UIDevice is main-actor isolated; the name is read once, on the main thread
/// when the client is created there.
enum MainThreadValue {
    static var systemName: String? {
        guard Thread.isMainThread else { return nil }
        return MainActor.assumeIsolated { UIDevice.current.systemName }
    }
}
#endif
