// evtrack-cli: track events from the shell with the Swift SDK.
//
//   evtrack-cli track <name> [key=value ...]   one event, then send it
//   evtrack-cli send --count N [--name NAME]   N events, then send them
//   evtrack-cli flush                          send what an earlier run left queued
//
// Output, one line each: `tracked <event_id> <name>`, `rejected <event_id>
// <field>: <message>`, `log <level>: <message>` (with --verbose), and last
// `summary {json}`. Exit status 0 when the queue is empty, 3 when events are
// still queued (they are sent by the next run), 2 on a usage error.
import Evtrack
import Foundation

/// One line on stdout, written at once (a test reads it while we run).
@Sendable func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func usage(_ why: String) -> Never {
    FileHandle.standardError.write(Data("""
    evtrack-cli: \(why)
    usage: evtrack-cli track <name> [key=value ...] | send --count N [--name NAME] | flush
      --endpoint URL        ingest base URL (or EVTRACK_ENDPOINT)
      --write-key KEY       write key (or EVTRACK_WRITE_KEY)
      --storage DIR         queue folder (default: the SDK's)
      --user ID             identify as this user
      --timeout SECONDS     how long to keep sending (default 30)
      --batch N             events per request (default 500)
      --retry-base S        backoff base (default 1), --retry-max S (default 300)
      --invalid-every K     with send: every K-th event gets a name the server refuses
                            (checked by the server only: the client's own check is off)
      --verbose             debug log lines

    """.utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { usage("no command") }
args.removeFirst()
var options: [String: String] = [:]
var positional: [String] = []
var verbose = false
while !args.isEmpty {
    let a = args.removeFirst()
    if a == "--verbose" {
        verbose = true
    } else if a.hasPrefix("--") {
        guard !args.isEmpty else { usage("\(a) needs a value") }
        options[String(a.dropFirst(2))] = args.removeFirst()
    } else {
        positional.append(a)
    }
}
let env = ProcessInfo.processInfo.environment
guard let endpoint = (options["endpoint"] ?? env["EVTRACK_ENDPOINT"]).flatMap(URL.init(string:)) else { usage("--endpoint is required") }
guard let key = options["write-key"] ?? env["EVTRACK_WRITE_KEY"] else { usage("--write-key is required") }

var config = Configuration(writeKey: key, endpoint: endpoint)
if let s = options["storage"] { config.storageDirectory = URL(fileURLWithPath: s) }
if let b = options["batch"].flatMap(Int.init) { config.maxBatchEvents = b }
if let r = options["retry-base"].flatMap(Double.init) { config.retryBaseDelay = r }
if let r = options["retry-max"].flatMap(Double.init) { config.retryMaxDelay = r }
let invalidEvery = options["invalid-every"].flatMap(Int.init) ?? 0
if invalidEvery > 0 { config.validatesLocally = false }
config.flushAt = 1_000_000 // this program sends when it is told to
config.maxQueuedEvents = 1_000_000
config.onRejected = { events in
    for e in events { say("rejected \(e.eventID) \(e.field): \(e.message)") }
}
config.logLevel = verbose ? .debug : .warning
config.logger = { level, message in say("log \(level): \(message)") }

let client: Evtrack
do {
    client = try Evtrack(configuration: config)
} catch {
    FileHandle.standardError.write(Data("evtrack-cli: \(error)\n".utf8))
    exit(1)
}
if let user = options["user"], !client.identify(userID: user) { usage("--user: not a valid user id") }

func metadata(_ pairs: [String]) -> Metadata {
    var m = Metadata()
    for p in pairs {
        let kv = p.split(separator: "=", maxSplits: 1).map(String.init)
        guard kv.count == 2 else { usage("metadata must be key=value: \(p)") }
        if let i = Int(kv[1]) {
            m[kv[0]] = .int(i)
        } else if let d = Double(kv[1]) {
            m[kv[0]] = .double(d)
        } else if kv[1] == "true" || kv[1] == "false" {
            m[kv[0]] = .bool(kv[1] == "true")
        } else {
            m[kv[0]] = .string(kv[1])
        }
    }
    return m
}

func record(_ name: String, _ metadata: Metadata) {
    if let id = client.track(name, metadata: metadata) { say("tracked \(id) \(name)") }
}

switch command {
case "track":
    guard let name = positional.first else { usage("track needs an event name") }
    record(name, metadata(Array(positional.dropFirst())))
case "send":
    guard let n = options["count"].flatMap(Int.init), n > 0 else { usage("send needs --count N") }
    let name = options["name"] ?? "cli_event"
    for i in 0..<n {
        let bad = invalidEvery > 0 && i % invalidEvery == invalidEvery - 1
        record(bad ? name + "\u{7}" : name, ["seq": .int(i)])
    }
case "flush":
    break
default:
    usage("unknown command \(command)")
}

/// Sends until the queue is empty or the timeout passes, waiting out
/// pauses and backoffs like the client would on its own.
let deadline = Date().addingTimeInterval(options["timeout"].flatMap(Double.init) ?? 30)
var result = await client.flush()
while !result.isComplete, Date() < deadline {
    switch result.blocker {
    case .paused(let until)?, .backoff(let until)?:
        let wait = max(0.01, min(until.timeIntervalSinceNow, deadline.timeIntervalSinceNow))
        try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
    case .unauthorized?, .stopped?, .storage?:
        break
    case nil:
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    if case .unauthorized? = result.blocker { break }
    if case .storage? = result.blocker { break }
    result = await client.flush()
}
let final = await client.shutdown(deadline: Date())
let c = client.counters
let summary: [String: Any] = [
    "remaining": final.remaining, "complete": final.isComplete, "blocker": final.blocker.map { "\($0)" } ?? "",
    "queued": c.queued, "delivered": c.delivered, "duplicates": c.duplicates, "rejected": c.rejected,
    "dropped_by_cap": c.droppedByCap, "quarantined": c.quarantined, "dropped_unwritten": c.droppedUnwritten, "retries": c.retries,
]
let json = try! JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
say("summary " + String(decoding: json, as: UTF8.self))
exit(final.isComplete ? 0 : 3)
