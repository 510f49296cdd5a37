// Package segment drives third-party tracking SDKs — Segment's and
// RudderStack's Python SDKs and Segment's Node SDK, installed from their
// registries by scripts/sdks.sh at the versions pinned in sdk/ — against
// the real pipeline, through a proxy that answers the first request 503
// after ingest stored it, and reads each user's history back through the
// query API.
package segment

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// installSDKs runs scripts/sdks.sh (a no-op when they are installed).
func installSDKs(t testing.TB) string {
	t.Helper()
	root := testenv.Root(t)
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "sdks.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/sdks.sh: %v\n%s", err, out)
	}
	return filepath.Join(root, ".cache", "sdks")
}

// faultProxy is an HTTP proxy in front of ingest that answers the first
// request it forwards with a 503 and Retry-After: 1 — after ingest has
// answered it, so the batch the SDK is told to retry is already stored.
type faultProxy struct {
	failFirst bool
	mu        sync.Mutex
	failed    int      // 503s sent in place of ingest's answer
	upstream  []string // ingest's status and body for every request, in order
	userAgent string
}

func newFaultProxy(t *testing.T, ingestAddr string, failFirst bool) (*faultProxy, string) {
	t.Helper()
	target, _ := url.Parse("http://" + ingestAddr)
	p := &faultProxy{failFirst: failFirst}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.upstream = append(p.upstream, fmt.Sprintf("%d %s", res.StatusCode, body))
		p.userAgent = res.Request.Header.Get("User-Agent")
		if p.failFirst && p.failed == 0 && res.Request.Method == http.MethodPost {
			p.failed++
			body = []byte(`{"code":"upstream_unavailable","message":"injected by the test's proxy after ingest answered"}`)
			res.StatusCode, res.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
			res.Header.Set("Retry-After", "1")
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", fmt.Sprint(len(body)))
		return nil
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return p, "http://" + ln.Addr().String()
}

// driverRun is what a driver printed: the messages its SDK built and the
// failures it reported.
type driverRun struct {
	sent   []map[string]any
	errors []any
}

func runDriver(t *testing.T, name string, cmd *exec.Cmd, messages int) driverRun {
	t.Helper()
	cmd.Stderr = os.Stderr
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	// Loopback is never sent through an HTTP proxy the machine may set.
	cmd.Env = append(cmd.Env, "no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost")
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s driver: %v\n%s", name, err, out)
	}
	var run driverRun
	var sawEnd bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Sent   map[string]any `json:"sent"`
			Errors []any          `json:"errors"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s driver printed %q: %v", name, sc.Text(), err)
		}
		if line.Sent != nil {
			run.sent = append(run.sent, line.Sent)
		}
		if line.Errors != nil {
			run.errors, sawEnd = line.Errors, true
		}
	}
	if !sawEnd || len(run.sent) != messages {
		t.Fatalf("%s driver: %d messages, end line %v:\n%s", name, len(run.sent), sawEnd, out)
	}
	t.Logf("%s driver ran in %s", name, time.Since(start).Round(time.Millisecond))
	return run
}

// TestSDKsDeliverThroughSegmentAPI: each SDK, pointed at ingest (through a
// proxy that turns the answer to its first batch into a 503), sends
// identify, track and screen calls and one event ingest refuses for a fresh
// user. Every valid message is in the user's history exactly once, with its
// name, properties, timestamps and context mapped as documented; the
// refused one is not, and no SDK reported a failure for the batch it was in.
func TestSDKsDeliverThroughSegmentAPI(t *testing.T) {
	s := startStack(t) // first: it skips under -short
	sdks := installSDKs(t)
	driver := filepath.Join(testenv.Root(t), "integration", "segment", "sdk")
	python := filepath.Join(sdks, "python", "bin", "python")
	tests := []struct {
		name, library, agent string
		cmd                  func(host, user, version string, mode ...string) *exec.Cmd
	}{
		{"segment-analytics-python", "analytics-python", "analytics-python/", func(host, user, version string, mode ...string) *exec.Cmd {
			return exec.Command(python, append([]string{filepath.Join(driver, "drive.py"), "segment", host, writeKey, user, version}, mode...)...)
		}},
		{"rudder-sdk-python", "analytics-python", "analytics-python/", func(host, user, version string, mode ...string) *exec.Cmd {
			return exec.Command(python, append([]string{filepath.Join(driver, "drive.py"), "rudder", host, writeKey, user, version}, mode...)...)
		}},
		{"@segment/analytics-node", "@segment/analytics-node", "analytics-node-next/", func(host, user, version string, mode ...string) *exec.Cmd {
			cmd := exec.Command("node", append([]string{filepath.Join(driver, "drive.js"), host, writeKey, user, version}, mode...)...)
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(sdks, "node", "node_modules"))
			return cmd
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			user := fmt.Sprintf("%s-user-%d", s.Prefix, i)
			version := fmt.Sprintf("7.%d.0", i)
			proxy, host := newFaultProxy(t, s.IngestAddr, true)
			run := runDriver(t, tt.name, tt.cmd(host, user, version), 5)

			// The fault struck: ingest stored the first batch, the SDK got a
			// 503 instead and sent it again.
			proxy.mu.Lock()
			failed, upstream, agent := proxy.failed, append([]string(nil), proxy.upstream...), proxy.userAgent
			proxy.mu.Unlock()
			t.Logf("ingest's answers behind the proxy: %q", upstream)
			if failed != 1 || len(upstream) < 2 || !strings.HasPrefix(upstream[0], "200 ") {
				t.Fatalf("the fault did not strike as planned: %d 503s, ingest answered %q", failed, upstream)
			}
			if !strings.HasPrefix(agent, tt.agent) {
				t.Fatalf("requests came from %q, not the SDK", agent)
			}
			if len(run.errors) != 0 {
				t.Fatalf("the SDK reported failures: %v", run.errors)
			}

			byID := map[string]map[string]any{}
			var refused string
			for _, m := range run.sent {
				id, _ := m["messageId"].(string)
				if id == "" {
					t.Fatalf("message without messageId: %v", m)
				}
				if ev, _ := m["event"].(string); len(ev) == 300 {
					refused = id
					continue
				}
				byID[id] = m
			}
			if len(byID) != 4 || refused == "" {
				t.Fatalf("driver sent %d valid messages and refused %q", len(byID), refused)
			}

			var events []*telemetryv1.StoredEvent
			testenv.EventuallyState(t, 60*time.Second, "the SDK's events in the user's history", func() (bool, string) {
				events = s.UserEvents(t, readToken, user)
				return len(events) >= len(byID), fmt.Sprintf("%d of %d events", len(events), len(byID))
			})
			seen := map[string]int{}
			for _, e := range events {
				seen[e.EventId]++
				m, ok := byID[e.EventId]
				if !ok {
					t.Errorf("event %s (%s) in the history was not sent as valid", e.EventId, e.EventName)
					continue
				}
				checkMapped(t, e, m, tt.library, version)
			}
			for id := range byID {
				if seen[id] != 1 {
					t.Errorf("message %s is in the history %d times", id, seen[id])
				}
			}
			// Stored once: one document per message id in the indices.
			docs := map[string]int64{}
			if err := loadgen.ScanEventIDs(t.Context(), testenv.OpenSearch(t, s.OpenSearchURL), eventdoc.Pattern(s.Prefix), "",
				func(_, id string, n int64) { docs[id] += n }); err != nil {
				t.Fatal(err)
			}
			for id := range byID {
				if docs[id] != 1 {
					t.Errorf("message %s has %d documents", id, docs[id])
				}
			}
			if docs[refused] != 0 {
				t.Errorf("the refused message %s was stored", refused)
			}

			// A batch ingest refuses whole (400) is reported by the SDK
			// once and never sent again.
			refusing, host := newFaultProxy(t, s.IngestAddr, false)
			run = runDriver(t, tt.name+" refused", tt.cmd(host, user+"-refused", version, "refused"), 1)
			refusing.mu.Lock()
			upstream = append([]string(nil), refusing.upstream...)
			refusing.mu.Unlock()
			if len(upstream) != 1 || !strings.HasPrefix(upstream[0], `400 {"code":"no_valid_events"`) || len(run.errors) != 1 {
				t.Fatalf("a refused batch: ingest answered %q, the SDK reported %v; want one 400 and one reported failure", upstream, run.errors)
			}
		})
	}
}

// checkMapped compares a stored event with the message its SDK sent.
func checkMapped(t *testing.T, e *telemetryv1.StoredEvent, m map[string]any, library, version string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("event %s (%s): %s", e.EventId, e.EventName, fmt.Sprintf(format, args...))
	}
	wantName := map[string]string{"identify": "$identify", "screen": "$screen"}[fmt.Sprint(m["type"])]
	if wantName == "" {
		wantName = fmt.Sprint(m["event"])
	}
	if e.EventName != wantName {
		fail("name %q, want %q", e.EventName, wantName)
	}
	if e.UserId != m["userId"] || e.AppVersion != version || e.OsName != "iOS" || e.OsVersion != "18.1" ||
		e.DeviceModel != "iPhone15,2" || e.Locale != "en-GB" || e.Timezone != "Europe/London" || e.SdkName != library || e.SdkVersion == "" {
		fail("context not mapped: user %q app %q os %q %q device %q locale %q timezone %q sdk %q %q",
			e.UserId, e.AppVersion, e.OsName, e.OsVersion, e.DeviceModel, e.Locale, e.Timezone, e.SdkName, e.SdkVersion)
	}
	ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["timestamp"]))
	if err != nil {
		fail("the SDK's timestamp %v: %v", m["timestamp"], err)
	} else if !e.ClientTimestamp.AsTime().Equal(ts) {
		fail("client_timestamp %s, the SDK sent %s", e.ClientTimestamp.AsTime(), ts)
	}
	if e.SentAt == nil {
		fail("no sent_at: the batch's sentAt was lost")
	}
	want := map[string]string{}
	switch e.EventName {
	case "$identify":
		user := fmt.Sprint(m["userId"])
		want = map[string]string{"email": user + "@example.com", "plan": "pro", "address.city": "Leeds", "address.zip": "LS1"}
	case "Order Completed":
		want = map[string]string{"total": "19.9", "currency": "EUR", "items": `["sku-1","sku-2"]`, "coupon.code": "WINTER", "coupon.percent": "10"}
		if got := e.ClientTimestamp.AsTime(); got.Nanosecond() != 123e6 {
			fail("client_timestamp %s lost the set milliseconds", got)
		}
	case "$screen":
		want = map[string]string{"name": "Checkout", "step": "2"}
	}
	for k, v := range want {
		if e.Metadata[k] != v {
			fail("metadata[%q] = %q, want %q (all: %v)", k, e.Metadata[k], v, e.Metadata)
		}
	}
}
