package service

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/testenv"
)

const goodBatch = `[
 {"event_id":"e1","user_id":"u1","session_id":"s1","event_name":"app_open","client_timestamp":"2026-11-26T10:00:00.5Z","app_version":"1.2.3","device_os":"iOS 18.1","metadata":{"screen":"home","retries":3,"dark":true},"message":"opened from push"},
 {"event_id":"e2","anonymous_id":"a1","event_name":"tap","client_timestamp":"2026-11-26T10:00:01Z"}
]`

func TestTrackPublishesOneDurableBatch(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)})
	if res.status != http.StatusAccepted || res.json["accepted"] != 2.0 || res.json["rejected"] != 0.0 {
		t.Fatalf("status %d body %s", res.status, res.raw)
	}
	// 202 was sent after the stream's ack: the batch must already be stored.
	s, _ := e.js.Stream(context.Background(), e.stream)
	if c := s.CachedInfo().Config.Compression; c != njs.NoCompression {
		t.Errorf("stream compression %v, want none (EVENTS_STREAM_COMPRESSION's default)", c)
	}
	raw, err := s.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatalf("stream has no message after 202: %v", err)
	}
	var batch telemetryv1.EventBatch
	if err := proto.Unmarshal(raw.Data, &batch); err != nil {
		t.Fatal(err)
	}
	if batch.AppId != "app-test" || len(batch.Events) != 2 || batch.BatchId == "" || batch.ReceivedAt == nil ||
		batch.ClientIp != "127.0.0.1" || batch.UserAgent != "TestApp/1.0 (iPhone; iOS 18.1)" || batch.SentAt != nil {
		t.Fatalf("batch %v", &batch)
	}
	if raw.Header.Get("Nats-Msg-Id") != batch.BatchId || !strings.HasSuffix(raw.Subject, ".app-test") {
		t.Fatalf("message id %q subject %q", raw.Header.Get("Nats-Msg-Id"), raw.Subject)
	}
	got := batch.Events[0]
	want := &telemetryv1.Event{EventId: "e1", UserId: "u1", SessionId: "s1", EventName: "app_open",
		AppVersion: "1.2.3", DeviceOs: "iOS 18.1", Message: "opened from push",
		Metadata:        map[string]string{"screen": "home", "retries": "3", "dark": "true"},
		ClientTimestamp: timestamppb.New(time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC))}
	if !proto.Equal(got, want) {
		t.Fatalf("event %v, want %v", got, want)
	}
}

// TestCompressedStream: EVENTS_STREAM_COMPRESSION=s2 creates the stream
// S2-compressed, and a 202 still means stored.
func TestCompressedStream(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"EVENTS_STREAM_COMPRESSION": "s2"})
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)}); res.status != http.StatusAccepted {
		t.Fatalf("status %d body %s", res.status, res.raw)
	}
	s, err := e.js.Stream(context.Background(), e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config.Compression; c != njs.S2Compression {
		t.Errorf("stream compression %v, want s2", c)
	}
	if n := e.messages(t); n != 1 {
		t.Errorf("%d messages in the stream, want 1", n)
	}
}

// TestRetriedRequestIsStoredOnce: a retried request is stored once and its
// events are reported as duplicates, so the client can tell a stored retry
// from a first write.
func TestRetriedRequestIsStoredOnce(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	for i := 0; i < 3; i++ {
		res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)})
		wantAccepted, wantDuplicates := 2.0, 0.0
		if i > 0 {
			wantAccepted, wantDuplicates = 0, 2
		}
		if res.status != http.StatusAccepted || res.json["accepted"] != wantAccepted || res.json["duplicates"] != wantDuplicates {
			t.Fatalf("attempt %d: %d %s, want accepted %v duplicates %v", i, res.status, res.raw, wantAccepted, wantDuplicates)
		}
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages after 3 identical requests, want 1", n)
	}
}

// TestContract walks every line of the /v1/track contract that ends in a
// status code, and checks that only accepted requests publish.
func TestContract(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_MAX_EVENTS": "5", "INGEST_MAX_EVENT_BYTES": "2048"})
	one := []byte(`[` + event("c1") + `]`)
	envelope := []byte(`{"sent_at":"2026-11-26T10:00:02Z","events":[` + event("c2") + `]}`)
	pb, _ := proto.Marshal(&telemetryv1.EventBatch{Events: []*telemetryv1.Event{{
		EventId: "c3", UserId: "u1", EventName: "tap", ClientTimestamp: timestamppb.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)),
	}}})
	pbInvalid, _ := proto.Marshal(&telemetryv1.EventBatch{Events: []*telemetryv1.Event{{EventId: "c4"}}})
	// sent_at past the year 9999 (timestamppb's range): stored as it is,
	// OpenSearch would refuse every document of the batch after its 202.
	pbFarSentAt, _ := proto.Marshal(&telemetryv1.EventBatch{SentAt: &timestamppb.Timestamp{Seconds: 2e12}, Events: []*telemetryv1.Event{{
		EventId: "c7", UserId: "u", EventName: "x", ClientTimestamp: timestamppb.Now()}}})
	six := `[` + strings.Repeat(event("x")+",", 5) + event("y") + `]`
	tests := []struct {
		name        string
		req         request
		wantStatus  int
		wantCode    string // error.code of a whole-request failure
		wantAccept  float64
		wantPublish bool
	}{
		{"bearer, bare array", request{auth: bearer(testKey), contentType: "application/json", body: one}, 202, "", 1, true},
		{"basic auth, key as user", request{auth: basic(testKey, ""), contentType: "application/json; charset=utf-8", body: envelope}, 202, "", 1, true},
		{"gzip", request{auth: bearer(testKey), contentType: "application/json", encoding: "gzip", body: gz(t, []byte(`[`+event("c5")+`]`))}, 202, "", 1, true},
		{"protobuf EventBatch", request{auth: bearer(testKey), contentType: "application/x-protobuf", body: pb}, 202, "", 1, true},
		{"protobuf gzip", request{auth: bearer(testKey), contentType: "application/x-protobuf", encoding: "gzip", body: gz(t, pb)}, 202, "", 0, false},
		{"no key", request{contentType: "application/json", body: one}, 401, "unauthorized", 0, false},
		{"unknown key", request{auth: bearer("wrong-key-0123456789"), contentType: "application/json", body: one}, 401, "unauthorized", 0, false},
		{"basic with a password", request{auth: basic(testKey, "secret"), contentType: "application/json", body: one}, 401, "unauthorized", 0, false},
		{"basic garbage", request{auth: "Basic %%%", contentType: "application/json", body: one}, 401, "unauthorized", 0, false},
		{"unknown scheme", request{auth: "Token " + testKey, contentType: "application/json", body: one}, 401, "unauthorized", 0, false},
		{"no content type", request{auth: bearer(testKey), body: one}, 415, "unsupported_media_type", 0, false},
		{"text/plain", request{auth: bearer(testKey), contentType: "text/plain", body: one}, 415, "unsupported_media_type", 0, false},
		{"deflate", request{auth: bearer(testKey), contentType: "application/json", encoding: "deflate", body: one}, 415, "unsupported_encoding", 0, false},
		{"br", request{auth: bearer(testKey), contentType: "application/json", encoding: "br", body: one}, 415, "unsupported_encoding", 0, false},
		{"gzip header, plain body", request{auth: bearer(testKey), contentType: "application/json", encoding: "gzip", body: one}, 400, "invalid_gzip", 0, false},
		{"not json", request{auth: bearer(testKey), contentType: "application/json", body: []byte(`{{{`)}, 400, "invalid_json", 0, false},
		{"empty body", request{auth: bearer(testKey), contentType: "application/json", body: nil}, 400, "empty_body", 0, false},
		{"empty array", request{auth: bearer(testKey), contentType: "application/json", body: []byte(`[]`)}, 400, "no_events", 0, false},
		{"scalar body", request{auth: bearer(testKey), contentType: "application/json", body: []byte(`"events"`)}, 400, "invalid_json", 0, false},
		{"envelope without events", request{auth: bearer(testKey), contentType: "application/json", body: []byte(`{"sent_at":"2026-11-26T10:00:00Z"}`)}, 400, "missing_events", 0, false},
		{"bad sent_at", request{auth: bearer(testKey), contentType: "application/json", body: []byte(`{"sent_at":"now","events":[` + event("z") + `]}`)}, 400, "invalid_sent_at", 0, false},
		{"not protobuf", request{auth: bearer(testKey), contentType: "application/x-protobuf", body: []byte("\xff\xff\xff")}, 400, "invalid_protobuf", 0, false},
		{"protobuf, no valid event", request{auth: bearer(testKey), contentType: "application/x-protobuf", body: pbInvalid}, 400, "", 0, false},
		{"protobuf, sent_at past 9999", request{auth: bearer(testKey), contentType: "application/x-protobuf", body: pbFarSentAt}, 400, "invalid_sent_at", 0, false},
		{"too many events", request{auth: bearer(testKey), contentType: "application/json", body: []byte(six)}, 413, "too_many_events", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.messages(t)
			res := e.post(t, tt.req)
			if res.status != tt.wantStatus || res.errorCode() != tt.wantCode {
				t.Fatalf("got %d %s, want %d %q", res.status, res.raw, tt.wantStatus, tt.wantCode)
			}
			if tt.wantCode != "" {
				if msg, _ := res.json["error"].(map[string]any)["message"].(string); msg == "" {
					t.Errorf("error without a message: %s", res.raw)
				}
			}
			if tt.wantStatus == 202 && tt.wantAccept > 0 && res.json["accepted"] != tt.wantAccept {
				t.Errorf("accepted %v, want %v", res.json["accepted"], tt.wantAccept)
			}
			if tt.wantStatus == 401 && res.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			// The Swift SDK's age cap reads the server's clock from Date.
			if d, err := http.ParseTime(res.header.Get("Date")); err != nil || d.Sub(time.Now()).Abs() > time.Minute {
				t.Errorf("Date %q (%v): want the server's time on every answer", res.header.Get("Date"), err)
			}
			published := e.messages(t) > before
			if tt.wantStatus != 202 && published {
				t.Errorf("a %d request published a message", res.status)
			}
			if tt.wantPublish && !published {
				t.Errorf("an accepted request published nothing")
			}
		})
	}
}

func TestPartialAcceptance(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	body := `[{"event_id":"ok","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z"},
	          {"event_id":"bad","user_id":"u","event_name":"x","client_timestamp":"later"},
	          {"event_id":"ok","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z"},
	          {"event_id":"num","user_id":42,"event_name":"x","client_timestamp":"2026-11-26T10:00:00Z"},
	          {"event_id":"nested","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z","metadata":{"a":{"b":1}}}]`
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(body)})
	if res.status != 202 || res.json["accepted"] != 1.0 || res.json["rejected"] != 3.0 || res.json["duplicates"] != 1.0 {
		t.Fatalf("status %d %s", res.status, res.raw)
	}
	want := []struct {
		index         float64
		id, field     string
		messageSubstr string
	}{
		{1, "bad", "client_timestamp", "RFC 3339"},
		{3, "num", "user_id", "expected a string, got number"},
		{4, "nested", "metadata.a", "string, number or boolean"},
	}
	errs := res.json["errors"].([]any)
	if len(errs) != len(want) {
		t.Fatalf("errors %v", errs)
	}
	for i, w := range want {
		got := errs[i].(map[string]any)
		if got["index"] != w.index || got["event_id"] != w.id || got["field"] != w.field || !strings.Contains(got["message"].(string), w.messageSubstr) {
			t.Errorf("error %d = %v, want %+v", i, got, w)
		}
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages", n)
	}
}

func TestTrustedProxyForwardedFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, trusted, xff, want string
	}{
		{"untrusted peer: header ignored", "", "198.51.100.7", "127.0.0.1"},
		{"trusted peer: client from header", "127.0.0.1/32", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startIngest(t, "", map[string]string{"INGEST_TRUSTED_PROXIES": tt.trusted})
			res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch),
				header: map[string]string{"X-Forwarded-For": tt.xff}})
			if res.status != 202 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if batch := e.storedBatch(t, 1); batch.ClientIp != tt.want {
				t.Fatalf("client_ip %q, want %q", batch.ClientIp, tt.want)
			}
		})
	}
}

func TestRateLimitPerApp(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_RATE_LIMIT_EVENTS_PER_SEC": "0.01", "INGEST_MAX_EVENTS": "3", "INGEST_RATE_LIMIT_BURST": "3"})
	body := func(ids ...string) []byte {
		parts := make([]string, len(ids))
		for i, id := range ids {
			parts[i] = event(id)
		}
		return []byte("[" + strings.Join(parts, ",") + "]")
	}
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: body("r1", "r2")}); res.status != 202 {
		t.Fatalf("first: %d %s", res.status, res.raw)
	}
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: body("r3", "r4")})
	if res.status != http.StatusTooManyRequests || res.errorCode() != "rate_limited" || res.header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s %v", res.status, res.raw, res.header)
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}

	// A rejected event is counted once its answer is final, not for every
	// 429 its batch is answered: the client sends the same events again.
	// Before, each of the retries below counted it again.
	withBad := []byte("[" + event("r5") + "," + event("r6") + `,{"event_id":"bad-1"}]`) // two tokens; one is left
	for range 4 {
		if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: withBad}); res.status != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d %s", res.status, res.raw)
		}
	}
	if _, b := testenv.Get(t, e.metrics+"/metrics"); strings.Contains(string(b), `ingest_events_total{outcome="rejected"`) {
		t.Errorf("rejected events counted for answers that were not final:\n%s", grepLines(string(b), "ingest_events_total"))
	}
}

// grepLines is the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)})
	e.post(t, request{contentType: "application/json", body: []byte(goodBatch)})
	for path, want := range map[string][]string{
		"/healthz": {`"ok"`},
		"/readyz":  {`"nats":"ok"`},
		"/metrics": {
			`ingest_requests_total{status="202",transport="http"} 1`,
			`ingest_requests_total{status="401",transport="http"} 1`,
			`ingest_events_total{outcome="accepted",reason=""} 2`,
			`ingest_publish_duration_seconds_count 1`,
			`ingest_publishes_in_flight 0`,
			`go_goroutines`,
		},
	} {
		code, b := testenv.Get(t, e.base+path)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
}

// TestMetricsOnTheirOwnAddress: with INGEST_METRICS_ADDR, /metrics is served
// there and not on the public port (which a load balancer forwards to the
// internet); health is on both (the balancer checks /readyz).
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_METRICS_ADDR": "127.0.0.1:0"})
	if e.metrics == e.base {
		t.Fatal("no address of its own")
	}
	e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)})
	for _, tt := range []struct {
		url      string
		wantCode int
		want     string
	}{
		{e.metrics + "/metrics", 200, `ingest_requests_total{status="202",transport="http"} 1`},
		{e.base + "/metrics", 404, ""},
		{e.metrics + "/readyz", 200, `"nats":"ok"`},
		{e.base + "/readyz", 200, `"nats":"ok"`},
	} {
		code, b := testenv.Get(t, tt.url)
		if code != tt.wantCode || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %d %.200s, want %d with %q", tt.url, code, b, tt.wantCode, tt.want)
		}
	}
}
