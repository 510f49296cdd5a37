package swift

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSwiftSDK gives the Swift SDK's figures (a benchmark, not a timed
// test; run it with -benchtime 1x): track() on the caller's thread and the
// memory with 100k events queued (evtrack-bench track, release build), then a
// full flush of 10k queued events through a real ingest, beside what that
// ingest takes in the same run from Go with the same batches, gzipped
// beforehand: one request in flight (the SDK's discipline) and four.
func BenchmarkSwiftSDK(b *testing.B) {
	bin := buildProduct(b, "evtrack-bench", "release")
	ingestAddr := names(b).Ingest().Addr()
	const events, batch = 10_000, 500
	for range b.N {
		track := runBench(b, bin, "track", "--events", "100000")
		flush := runBench(b, bin, "flush", "--endpoint", "http://"+ingestAddr, "--write-key", writeKey,
			"--events", fmt.Sprint(events), "--batch", fmt.Sprint(batch))
		if flush["complete"] != true || flush["delivered"] != float64(events) {
			b.Fatalf("flush: %v", flush)
		}
		one := postBatches(b, ingestAddr, events, batch, 1)
		four := postBatches(b, ingestAddr, events, batch, 4)
		b.ReportMetric(track["track_p99_us"].(float64), "track-p99-µs")
		b.ReportMetric(track["enqueue_events_per_sec"].(float64), "enqueue-events/s")
		b.ReportMetric(flush["flush_events_per_sec"].(float64), "sdk-flush-events/s")
		b.ReportMetric(one, "ingest-1-in-flight-events/s")
		b.ReportMetric(four, "ingest-4-in-flight-events/s")
		b.Logf("track(): p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs, max %.0f µs; enqueue %.0f events/s, on disk %.0f events/s",
			track["track_p50_us"], track["track_p99_us"], track["track_p999_us"], track["track_max_us"],
			track["enqueue_events_per_sec"], track["on_disk_events_per_sec"])
		b.Logf("memory: RSS %.0f kB before, %.0f kB with %.0f events queued (%.1f MB on disk), peak %.0f kB",
			track["rss_kb_before"], track["rss_kb_queued"], track["queued"], track["queue_disk_bytes"].(float64)/1e6, track["peak_rss_kb"])
		b.Logf("flush of %d queued events, batches of %d: SDK %.0f events/s (%.2f s); same ingest from Go: %.0f events/s one request in flight, %.0f events/s four",
			events, batch, flush["flush_events_per_sec"], flush["seconds"], one, four)
	}
}

// runBench runs evtrack-bench and returns its result line.
func runBench(b *testing.B, bin string, args ...string) map[string]any {
	b.Helper()
	out, err := swiftCommand(b, "", append([]string{bin}, args...)...).Output()
	if err != nil {
		b.Fatalf("evtrack-bench %v: %v\n%s", args, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "result "); ok {
			var r map[string]any
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				b.Fatal(err)
			}
			return r
		}
	}
	b.Fatalf("evtrack-bench %v printed no result:\n%s", args, out)
	return nil
}

// postBatches posts events in gzipped batches of the SDK's shape, inFlight at
// a time, and returns the accepted events per second.
func postBatches(b *testing.B, addr string, events, batch, inFlight int) float64 {
	b.Helper()
	run := time.Now().UnixNano()
	var bodies [][]byte
	for first := 0; first < events; first += batch {
		var sb strings.Builder
		sb.WriteString(`{"sent_at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","events":[`)
		for i := first; i < min(first+batch, events); i++ {
			if i > first {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"event_id":"go-%d-%d","event_name":"screen_view","client_timestamp":%q,"anonymous_id":"5b0c6f5e-8f7a-4c1e-9d2b-3a4f5e6d7c8b",`+
				`"user_id":"bench-user","session_id":"0193a1b2-0000-7000-8000-000000000001","app_version":"3.1.0","device_os":"Linux 6.1",`+
				`"os_name":"Linux","os_version":"6.1","locale":"en-GB","timezone":"Europe/London","sdk_name":"evtrack-swift","sdk_version":"0.1.0",`+
				`"metadata":{"first_purchase":false,"items":3,"n":%d,"screen":"checkout","total":42.5}}`, run, i, time.Now().UTC().Format(time.RFC3339Nano), i)
		}
		sb.WriteString("]}")
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		_, _ = w.Write([]byte(sb.String()))
		_ = w.Close()
		bodies = append(bodies, z.Bytes())
	}
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/track", bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+writeKey)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Content-Encoding", "gzip")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				var r struct{ Accepted int }
				_ = json.NewDecoder(res.Body).Decode(&r)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted {
					b.Errorf("batch %d: %s", i, res.Status)
					return
				}
				accepted.Add(int64(r.Accepted))
			}
		}()
	}
	wg.Wait()
	return float64(accepted.Load()) / time.Since(start).Seconds()
}
