package service

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/testenv"
)

// segmentMessage is a Segment track message with id and event name.
func segmentMessage(id, event string) string {
	return `{"type":"track","messageId":"` + id + `","userId":"u1","event":"` + event + `","timestamp":"2026-11-26T10:00:00Z",` +
		`"properties":{"plan":"pro","cart":{"items":2}},"context":{"app":{"version":"4.5.6"},"os":{"name":"Android","version":"15"},"library":{"name":"analytics-kotlin","version":"1.16.0"}}}`
}

func segmentBatch(key string, messages ...string) []byte {
	k := ""
	if key != "" {
		k = `,"writeKey":"` + key + `"`
	}
	return []byte(`{"batch":[` + strings.Join(messages, ",") + `],"sentAt":"2026-11-26T10:00:05Z"` + k + `}`)
}

// segmentCode is the code of a Segment-route refusal: at the top level.
func (r response) segmentCode() string {
	c, _ := r.json["code"].(string)
	return c
}

// TestSegmentAPI walks the Segment-compatible routes: every answer's status
// and code, and that only what was answered 200 was published.
func TestSegmentAPI(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	basicKey := basic(testKey, "")
	tests := []struct {
		name         string
		req          request
		wantStatus   int
		wantCode     string // refusals
		wantAccepted float64
		wantPublish  bool
	}{
		{"batch, Basic auth", request{auth: basicKey, path: "/v1/batch", body: segmentBatch("", segmentMessage("s1", "Signed Up"))}, 200, "", 1, true},
		{"batch, key in the body only", request{path: "/segment/v1/batch", body: segmentBatch(testKey, segmentMessage("s2", "e"))}, 200, "", 1, true},
		{"batch, Bearer", request{auth: bearer(testKey), path: "/v1/batch", body: segmentBatch("", segmentMessage("s3", "e"))}, 200, "", 1, true},
		{"gzip", request{auth: basicKey, path: "/v1/batch", encoding: "gzip", body: gz(t, segmentBatch("", segmentMessage("s4", "e")))}, 200, "", 1, true},
		{"text/plain", request{auth: basicKey, path: "/v1/batch", contentType: "text/plain", body: segmentBatch("", segmentMessage("s5", "e"))}, 200, "", 1, true},
		{"single track call", request{auth: basicKey, path: "/segment/v1/track", body: []byte(`{"messageId":"s6","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z"}`)}, 200, "", 1, true},
		{"single identify call under /v1", request{auth: basicKey, path: "/v1/identify", body: []byte(`{"messageId":"s7","userId":"u","traits":{"plan":"pro"}}`)}, 200, "", 1, true},
		{"single screen call, key in the body", request{path: "/segment/v1/screen", body: []byte(`{"writeKey":"` + testKey + `","messageId":"s8","anonymousId":"a","name":"Home"}`)}, 200, "", 1, true},
		// As Segment's browser SDK sends them (analytics-next packages/browser
		// src/plugins/segmentio: /v1/<first letter of the type>, batches to
		// /v1/b, text/plain, the key in the body).
		{"analytics-android's /import, gzip", request{auth: basicKey, path: "/v1/import", encoding: "gzip", body: gz(t, segmentBatch("", segmentMessage("s-import", "e")))}, 200, "", 1, true},
		{"browser batch", request{path: "/v1/b", contentType: "text/plain", body: segmentBatch(testKey, segmentMessage("s9", "e"))}, 200, "", 1, true},
		{"browser track", request{path: "/v1/t", contentType: "text/plain", body: []byte(`{"writeKey":"` + testKey + `","type":"track","messageId":"s10","anonymousId":"a","event":"e","timestamp":"2026-11-26T10:00:00Z","sentAt":"2026-11-26T10:00:01Z"}`)}, 200, "", 1, true},
		{"wrong key in the header: not read further", request{auth: basic("not-a-key-0123456789", ""), path: "/v1/batch", body: segmentBatch(testKey, segmentMessage("x1", "e"))}, 401, "unauthorized", 0, false},
		{"wrong key in the body", request{path: "/v1/batch", body: segmentBatch("not-a-key-0123456789", segmentMessage("x2", "e"))}, 401, "unauthorized", 0, false},
		{"no key anywhere", request{path: "/v1/batch", body: segmentBatch("", segmentMessage("x3", "e"))}, 401, "unauthorized", 0, false},
		{"no valid message", request{auth: basicKey, path: "/v1/batch", body: segmentBatch("", `{"type":"track","messageId":"x4","userId":"u"}`)}, 400, "no_valid_events", 0, false},
		{"not a batch", request{auth: basicKey, path: "/v1/batch", body: []byte(`[` + event("x5") + `]`)}, 400, "invalid_json", 0, false},
		{"no batch field", request{auth: basicKey, path: "/v1/batch", body: []byte(`{"messages":[]}`)}, 400, "missing_batch", 0, false},
		{"XML", request{auth: basicKey, path: "/v1/batch", contentType: "application/xml", body: []byte(`<batch/>`)}, 415, "unsupported_media_type", 0, false},
		{"too many messages", request{auth: basicKey, path: "/v1/batch", body: segmentBatch("", strings.TrimSuffix(strings.Repeat(`{},`, 1001), ","))}, 413, "too_many_events", 0, false},
	}
	published := uint64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.contentType == "" {
				tt.req.contentType = "application/json"
			}
			res := e.post(t, tt.req)
			if res.status != tt.wantStatus || res.segmentCode() != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", res.status, res.raw, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == 200 && (res.json["success"] != true || res.json["accepted"] != tt.wantAccepted) {
				t.Fatalf("body %s, want success with %v accepted", res.raw, tt.wantAccepted)
			}
			if tt.wantStatus >= 400 && res.json["message"] == "" {
				t.Fatalf("refusal without a message: %s", res.raw)
			}
			if tt.wantStatus == 401 && res.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if res.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("answer not readable cross-origin: %v", res.header)
			}
			if tt.wantPublish {
				published++
			}
			if n := e.messages(t); n != published {
				t.Fatalf("stream holds %d messages, want %d", n, published)
			}
		})
	}
}

// TestSegmentBrowserPreflightAndRateLimit: a browser's preflight is
// answered for the headers SDKs send, and a rate-limited batch says when
// to come back both ways SDKs read it (Retry-After; X-RateLimit-Reset for
// the browser SDK).
func TestSegmentBrowserPreflightAndRateLimit(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_MAX_EVENTS": "2", "INGEST_RATE_LIMIT_EVENTS_PER_SEC": "0.2", "INGEST_RATE_LIMIT_BURST": "2"})
	req, _ := http.NewRequest(http.MethodOptions, e.base+"/v1/b", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,anonymousid")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "AnonymousId") || res.Header.Get("Access-Control-Allow-Methods") != "POST" {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	batch := func(a, b string) request {
		return request{auth: basic(testKey, ""), contentType: "application/json", path: "/v1/batch", body: segmentBatch("", segmentMessage(a, "e"), segmentMessage(b, "e"))}
	}
	if got := e.post(t, batch("r1", "r2")); got.status != 200 {
		t.Fatalf("first batch: %d %s", got.status, got.raw)
	}
	got := e.post(t, batch("r3", "r4"))
	if got.status != http.StatusTooManyRequests || got.segmentCode() != "rate_limited" || got.header.Get("Retry-After") == "" ||
		got.header.Get("X-RateLimit-Reset") != got.header.Get("Retry-After") {
		t.Fatalf("over the rate: %d %s %v, want 429 rate_limited with Retry-After and X-RateLimit-Reset", got.status, got.raw, got.header)
	}
}

// TestSegmentBatchMappedAndPartiallyAccepted: a batch with a bad message is
// answered 200 for the others, the bad one listed under its Segment field
// name; what is published is the mapped events with sentAt; a retry of the
// same batch is stored once and reported as duplicates.
func TestSegmentBatchMappedAndPartiallyAccepted(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	body := segmentBatch("", segmentMessage("p1", "Order Completed"), `{"type":"track","messageId":"p2","userId":"u1","timestamp":"2026-11-26T10:00:00Z"}`,
		`{"type":"identify","messageId":"p3","userId":"u1","traits":{"email":"a@example.com"},"timestamp":"2026-11-26T10:00:01Z"}`)
	req := request{auth: basic(testKey, ""), contentType: "application/json", path: "/v1/batch", body: body}
	res := e.post(t, req)
	errs, _ := res.json["errors"].([]any)
	if res.status != 200 || res.json["accepted"] != 2.0 || res.json["rejected"] != 1.0 || len(errs) != 1 {
		t.Fatalf("got %d %s", res.status, res.raw)
	}
	if e0, _ := errs[0].(map[string]any); e0["field"] != "event" || e0["event_id"] != "p2" || e0["index"] != 1.0 {
		t.Fatalf("error %v, want message 1 (p2) refused for its event", e0)
	}
	batch := e.storedBatch(t, 1) // stored before the 200
	if len(batch.Events) != 2 || batch.AppId != "app-test" || !batch.SentAt.AsTime().Equal(time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)) || batch.ClientIp != "127.0.0.1" {
		t.Fatalf("batch %v", batch)
	}
	got := batch.Events[0]
	if got.EventId != "p1" || got.EventName != "Order Completed" || got.UserId != "u1" || got.AppVersion != "4.5.6" || got.OsName != "Android" ||
		got.OsVersion != "15" || got.SdkName != "analytics-kotlin" || got.SdkVersion != "1.16.0" ||
		got.Metadata["plan"] != "pro" || got.Metadata["cart.items"] != "2" {
		t.Fatalf("track event %v", got)
	}
	if id := batch.Events[1]; id.EventName != "$identify" || id.Metadata["email"] != "a@example.com" {
		t.Fatalf("identify event %v", id)
	}
	retry := e.post(t, req)
	if retry.status != 200 || retry.json["accepted"] != 0.0 || retry.json["duplicates"] != 2.0 {
		t.Fatalf("retry: %d %s, want 200 with 2 duplicates", retry.status, retry.raw)
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages after a retry, want 1", n)
	}
	if n := series(t, e.base, `ingest_requests_total{status="200",transport="segment"}`); n != 2 {
		t.Fatalf("segment requests counted %v, want 2", n)
	}
}

// TestSegmentContextIPTrustedOnlyWhenConfigured: context.ip replaces the
// socket address only with INGEST_SEGMENT_TRUST_CONTEXT_IP.
func TestSegmentContextIPTrustedOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		e := startIngest(t, "", map[string]string{"INGEST_SEGMENT_TRUST_CONTEXT_IP": strconv.FormatBool(trust)})
		msg := `{"type":"track","messageId":"ip1","userId":"u","event":"e","context":{"ip":"203.0.113.7"}}`
		if res := e.post(t, request{auth: basic(testKey, ""), contentType: "application/json", path: "/v1/batch", body: segmentBatch("", msg)}); res.status != 200 {
			t.Fatalf("got %d %s", res.status, res.raw)
		}
		batch := e.storedBatch(t, 1)
		want := "127.0.0.1"
		if trust {
			want = "203.0.113.7"
		}
		if batch.ClientIp != want {
			t.Fatalf("trust %v: client_ip %q, want %q", trust, batch.ClientIp, want)
		}
	}
}

// TestSegmentBodyKeyCallersCannotStarveKeyedOnes: requests whose key is
// only in the body are read before they are known, so they are held to
// 1 MiB inflated and a budget of their own: a flood of them without a valid
// key — bodies near that limit, 16 at once — is refused (401, or 503 when
// their budget is spent) while callers with a key in the header are still
// served, and nothing of the flood is published.
func TestSegmentBodyKeyCallersCannotStarveKeyedOnes(t *testing.T) {
	e := startIngest(t, "", map[string]string{"INGEST_SEGMENT_BODY_KEY_BUDGET_BYTES": "4194304"})
	// 960 KB of valid Segment JSON when inflated, near the 1 MiB a body
	// carrying its key may hold.
	bomb := gz(t, []byte(`{"writeKey":"not-a-key-0123456789","batch":[`+strings.TrimSuffix(strings.Repeat(`{"type":"track","properties":{"p":"`+strings.Repeat("x", 8000)+`"}},`, 120), ",")+`]}`))
	// Over the limit of such bodies: refused while inflating (before the
	// flood, which keeps their budget busy).
	over := gz(t, []byte(`{"writeKey":"not-a-key-0123456789","batch":[`+strings.TrimSuffix(strings.Repeat(`{"type":"track","properties":{"p":"`+strings.Repeat("x", 8000)+`"}},`, 200), ",")+`]}`))
	if res := e.post(t, request{contentType: "application/json", encoding: "gzip", path: "/v1/batch", body: over}); res.status != 413 || res.segmentCode() != "body_too_large" {
		t.Errorf("a 1.6 MB body with its key: %d %s, want 413", res.status, res.raw)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	errs := make([]error, 16)
	stop := make(chan struct{})
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := e.tryPost(request{contentType: "application/json", encoding: "gzip", path: "/v1/batch", body: bomb})
				if err != nil {
					errs[i] = err
					return
				}
				statuses[i] = res.status
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	// Meanwhile, keyed callers are served every time.
	for i := range 20 {
		res := e.post(t, request{auth: basic(testKey, ""), contentType: "application/json", path: "/v1/batch", body: segmentBatch("", segmentMessage("k"+strconv.Itoa(i), "e"))})
		if res.status != 200 {
			close(stop)
			wg.Wait()
			t.Fatalf("keyed request %d during the flood: %d %s", i, res.status, res.raw)
		}
	}
	close(stop)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("flood request %d: %v", i, err)
		}
	}
	for _, s := range statuses {
		if s != http.StatusUnauthorized && s != http.StatusServiceUnavailable && s != http.StatusBadRequest {
			t.Fatalf("flood statuses %v, want refusals", statuses)
		}
	}
	refused := func(status string) float64 {
		return series(t, e.base, `ingest_requests_total{status="`+status+`",transport="segment"}`)
	}
	t.Logf("flood answers: 401 %v, 503 %v", refused("401"), refused("503"))
	if refused("401") == 0 {
		t.Fatal("no flood request was refused for its key")
	}
	if n := e.messages(t); n != 20 {
		t.Fatalf("stream holds %d messages, want the 20 keyed batches", n)
	}
}

// series is the value of one exact series of ingest's /metrics (0 if absent).
func series(t *testing.T, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestSegmentStalledKeylessBodiesHoldOnlyTheirAddressShare: 32 connections
// from one address (behind the trusted proxy) announce 1 MiB Segment bodies
// without a key and stall after 8 KiB. A body that carries its key is
// charged before it is read, so before per-address shares these held the
// whole 32 MiB budget and every browser got 503 until the read timeout. Now
// that address holds at most its share (4 MiB) and its next keyless body is
// refused 429, while a browser at another address is served.
func TestSegmentStalledKeylessBodiesHoldOnlyTheirAddressShare(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_TRUSTED_PROXIES": "127.0.0.1/32"})
	addr := strings.TrimPrefix(e.base, "http://")
	post := func(from string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "text/plain") // as browsers' sendBeacon
		req.Header.Set("X-Forwarded-For", from)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for range 32 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/batch HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.7\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n{%s", 1<<20, strings.Repeat(" ", 8<<10))
	}
	// The stalls struck: their address's share is spent (a small body
	// from it is refused for that, not for the whole budget).
	small := segmentBatch(testKey, segmentMessage("s1", "e"))
	testenv.EventuallyState(t, 10*time.Second, "the stalled address's share spent", func() (bool, string) {
		status, body := post("198.51.100.7", small)
		return status == http.StatusTooManyRequests && strings.Contains(body, "too_many_requests"), fmt.Sprintf("%d %s", status, body)
	})
	for i := range 5 {
		if status, body := post("203.0.113.9", segmentBatch(testKey, segmentMessage("b"+strconv.Itoa(i), "e"))); status != http.StatusOK {
			t.Fatalf("a browser at another address while the stalls hold: %d %s", status, body)
		}
	}
}

// TestSegmentMessagesWithoutIDOrTimeAreDistinct: a message with neither
// messageId nor a time of its own (a hand-written call to the HTTP API) is
// a new event each time it is sent, as with Segment, which assigns such a
// message an id. Before, its id was derived from its content: the second
// identical heartbeat was answered 200 with duplicates:1 and never stored.
func TestSegmentMessagesWithoutIDOrTimeAreDistinct(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	body := []byte(`{"batch":[{"type":"track","userId":"u9","event":"heartbeat"}]}`)
	for i := range 2 {
		res := e.post(t, request{auth: basic(testKey, ""), contentType: "application/json", path: "/v1/batch", body: body})
		if res.status != 200 || res.json["accepted"] != 1.0 {
			t.Fatalf("heartbeat %d: %d %s; want it accepted", i+1, res.status, res.raw)
		}
	}
	if n := e.messages(t); n != 2 {
		t.Fatalf("stream holds %d batches, want 2", n)
	}
}
