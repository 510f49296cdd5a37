// evtrack-bench: what `track` costs the caller, and how fast a queue drains.
//
//   evtrack-bench track [--events 100000] [--producers 1]
//       per-call latency of track() on the caller's thread (p50/p99/p99.9/max),
//       enqueue rate, the time until all are on disk, memory with them queued
//   evtrack-bench flush --endpoint URL --write-key KEY [--events 10000] [--batch 500]
//       a full flush of that many queued events through a real ingest
//
// Prints one line: `result {json}`. Build with -c release.
import Evtrack
import Foundation

@Sendable func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

var options: [String: String] = [:]
let argv = Array(CommandLine.arguments.dropFirst())
let mode = argv.first ?? "track"
var i = 1
while i + 1 < argv.count {
    options[String(argv[i].dropFirst(2))] = argv[i + 1]
    i += 2
}
let events = options["events"].flatMap(Int.init) ?? (mode == "flush" ? 10_000 : 100_000)
let storage = URL(fileURLWithPath: options["storage"] ?? NSTemporaryDirectory())
    .appendingPathComponent("evtrack-bench-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: storage) }

/// Resident and peak memory (kB) of this process, from /proc (Linux).
func memory() -> (rss: Int, peak: Int) {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        s.split(separator: "\n").first { $0.hasPrefix(name) }
            .flatMap { Int($0.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "") } ?? 0
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

/// Refuses every upload at once: the track benchmark measures the queue, not the network.
struct Offline: Transport {
    func send(_ request: UploadRequest) async throws -> UploadResponse { throw URLError(.notConnectedToInternet) }
}

func emit(_ result: [String: Any]) {
    let json = try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    say("result " + String(decoding: json, as: UTF8.self))
}

let metadata: Metadata = ["screen": "checkout", "items": 3, "total": 42.5, "first_purchase": false]

switch mode {
case "track":
    var c = Configuration(writeKey: "bench-write-key-0123456789", endpoint: URL(string: "http://127.0.0.1:9")!)
    c.storageDirectory = storage
    c.transport = Offline()
    c.flushAt = Int.max
    c.flushInterval = 3600
    c.maxQueuedEvents = events * 2
    c.maxQueueBytes = 1 << 30
    let client = try Evtrack(configuration: c)
    client.identify(userID: "bench-user")
    for _ in 0..<1000 { client.track("warm_up", metadata: metadata) }
    _ = await client.flush()
    let before = memory()
    let producers = options["producers"].flatMap(Int.init) ?? 1
    let per = events / producers
    let start = now()
    let latencies = await withTaskGroup(of: [UInt64].self) { g -> [UInt64] in
        for _ in 0..<producers {
            g.addTask {
                var l = [UInt64]()
                l.reserveCapacity(per)
                for _ in 0..<per {
                    let t0 = now()
                    client.track("screen_view", metadata: metadata)
                    l.append(now() - t0)
                }
                return l
            }
        }
        var all: [UInt64] = []
        for await l in g { all += l }
        return all
    }
    let enqueued = now()
    _ = await client.flush() // writes what is still pending, then one refused request
    let onDisk = now()
    let after = memory()
    let sorted = latencies.sorted()
    let queued = client.counters.inQueue
    let diskBytes = ((try? FileManager.default.contentsOfDirectory(atPath: storage.appendingPathComponent("queue").path)) ?? [])
        .compactMap { try? FileManager.default.attributesOfItem(atPath: storage.appendingPathComponent("queue/" + $0).path)[.size] as? Int }
        .reduce(0, +)
    _ = await client.shutdown(deadline: Date())
    emit([
        "events": sorted.count, "producers": producers,
        "track_p50_us": percentile(sorted, 0.5), "track_p99_us": percentile(sorted, 0.99),
        "track_p999_us": percentile(sorted, 0.999), "track_max_us": Double(sorted.last!) / 1000,
        "enqueue_events_per_sec": Int(Double(sorted.count) / (Double(enqueued - start) / 1e9)),
        "on_disk_events_per_sec": Int(Double(sorted.count) / (Double(onDisk - start) / 1e9)),
        "queued": queued, "queue_disk_bytes": diskBytes,
        "rss_kb_before": before.rss, "rss_kb_queued": after.rss, "peak_rss_kb": after.peak,
    ])
case "flush":
    guard let endpoint = options["endpoint"].flatMap(URL.init(string:)), let key = options["write-key"] else {
        FileHandle.standardError.write(Data("usage: evtrack-bench flush --endpoint URL --write-key KEY [--events N] [--batch N]\n".utf8))
        exit(2)
    }
    var c = Configuration(writeKey: key, endpoint: endpoint)
    c.storageDirectory = storage
    c.flushAt = Int.max
    c.flushInterval = 3600
    c.maxQueuedEvents = events * 2
    c.maxBatchEvents = options["batch"].flatMap(Int.init) ?? 500
    let client = try Evtrack(configuration: c)
    client.identify(userID: "bench-user")
    for n in 0..<events { client.track("screen_view", metadata: metadata.merging(["n": .int(n)]) { a, _ in a }) }
    let start = now()
    let r = await client.flush()
    let took = Double(now() - start) / 1e9
    let counters = client.counters
    _ = await client.shutdown(deadline: Date())
    emit([
        "events": events, "batch": c.maxBatchEvents, "complete": r.isComplete, "delivered": counters.delivered,
        "seconds": took, "flush_events_per_sec": Int(Double(counters.delivered) / took), "retries": counters.retries,
    ])
default:
    FileHandle.standardError.write(Data("usage: evtrack-bench track|flush [options]\n".utf8))
    exit(2)
}
