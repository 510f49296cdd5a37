package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
)

const testKey = "test-write-key-0123456789"

// startIngest runs an ingest service on its own stream against the real NATS.
func startIngest(t *testing.T) (base string, stream string, js njs.JetStream) {
	t.Helper()
	natsURL := testenv.NATSURL(t)
	name := testenv.Name(t, "ingest")
	stream = strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	cfg, err := LoadConfig(config.MapLookup(map[string]string{
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_WRITE_KEYS":     testKey + ":app-test",
		"NATS_URL":              natsURL,
		"EVENTS_STREAM":         stream,
		"EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_STREAM_MAX_AGE": "1h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, cfg, slog.New(slog.DiscardHandler), otelx.ForTest(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	js, err = njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingest Run: %v", err)
		}
		_ = js.DeleteStream(context.Background(), stream)
		nc.Close()
	})
	return "http://" + svc.Addr(), stream, js
}

func post(t *testing.T, url, auth, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "TestApp/1.0 (iPhone; iOS 18.1)")
	client := http.DefaultClient
	if len(body) > 64<<10 {
		// A server may answer 413 from Content-Length and close the
		// connection before a large body is written, which a client that is
		// still writing sees as a reset. Clients sending large bodies ask
		// first (Expect: 100-continue) and read the 413 reliably.
		req.Header.Set("Expect", "100-continue")
		client = &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d, body is not JSON: %q", res.StatusCode, raw)
	}
	return res.StatusCode, out, res.Header
}

func streamMessages(t *testing.T, js njs.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

const goodBatch = `[
 {"event_id":"e1","user_id":"u1","session_id":"s1","event_name":"app_open","client_timestamp":"2026-11-26T10:00:00.5Z","app_version":"1.2.3","device_os":"iOS 18.1","metadata":{"screen":"home","retries":3,"dark":true},"message":"opened from push"},
 {"event_id":"e2","anonymous_id":"a1","event_name":"tap","client_timestamp":"2026-11-26T10:00:01Z"}
]`

func TestTrackPublishesOneDurableBatch(t *testing.T) {
	base, stream, js := startIngest(t)
	status, body, _ := post(t, base+"/v1/track", "Bearer "+testKey, "application/json", goodBatch)
	if status != http.StatusAccepted || body["accepted"] != 2.0 || body["rejected"] != 0.0 {
		t.Fatalf("status %d body %v", status, body)
	}
	// 202 was sent after the stream's ack: the batch must already be stored.
	s, _ := js.Stream(context.Background(), stream)
	raw, err := s.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatalf("stream has no message after 202: %v", err)
	}
	var batch telemetryv1.EventBatch
	if err := proto.Unmarshal(raw.Data, &batch); err != nil {
		t.Fatal(err)
	}
	if batch.AppId != "app-test" || len(batch.Events) != 2 || batch.BatchId == "" || batch.ReceivedAt == nil ||
		batch.ClientIp != "127.0.0.1" || batch.UserAgent != "TestApp/1.0 (iPhone; iOS 18.1)" {
		t.Fatalf("batch %v", &batch)
	}
	if raw.Header.Get("Nats-Msg-Id") != batch.BatchId || !strings.HasSuffix(raw.Subject, ".app-test") {
		t.Fatalf("message id %q subject %q", raw.Header.Get("Nats-Msg-Id"), raw.Subject)
	}
	e := batch.Events[0]
	want := &telemetryv1.Event{EventId: "e1", UserId: "u1", SessionId: "s1", EventName: "app_open",
		AppVersion: "1.2.3", DeviceOs: "iOS 18.1", Message: "opened from push",
		Metadata: map[string]string{"screen": "home", "retries": "3", "dark": "true"}}
	want.ClientTimestamp = e.ClientTimestamp
	if !proto.Equal(e, want) || e.ClientTimestamp.AsTime() != time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC) {
		t.Fatalf("event %v, want %v", e, want)
	}
}

func TestRetriedRequestIsStoredOnce(t *testing.T) {
	base, stream, js := startIngest(t)
	for i := 0; i < 3; i++ {
		if status, body, _ := post(t, base+"/v1/track", "Bearer "+testKey, "application/json", goodBatch); status != http.StatusAccepted {
			t.Fatalf("attempt %d: status %d %v", i, status, body)
		}
	}
	if n := streamMessages(t, js, stream); n != 1 {
		t.Fatalf("stream holds %d messages after 3 identical requests, want 1", n)
	}
}

func TestTrackRejections(t *testing.T) {
	base, stream, js := startIngest(t)
	tests := []struct {
		name       string
		auth, ct   string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"no key", "", "application/json", goodBatch, 401, "unauthorized"},
		{"unknown key", "Bearer wrong-key-0123456789", "application/json", goodBatch, 401, "unauthorized"},
		{"basic scheme is not bearer", "Token " + testKey, "application/json", goodBatch, 401, "unauthorized"},
		{"wrong content type", "Bearer " + testKey, "text/plain", goodBatch, 415, "unsupported_media_type"},
		{"not json", "Bearer " + testKey, "application/json", `{{{`, 400, "invalid_json"},
		{"empty array", "Bearer " + testKey, "application/json", `[]`, 400, "no_events"},
		{"body over 1 MiB", "Bearer " + testKey, "application/json", `[` + strings.Repeat(" ", 1<<20) + `]`, 413, "request_entity_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := post(t, base+"/v1/track", tt.auth, tt.ct, tt.body)
			errObj, _ := body["error"].(map[string]any)
			if status != tt.wantStatus || errObj["code"] != tt.wantCode || errObj["message"] == "" {
				t.Fatalf("status %d body %v, want %d %s", status, body, tt.wantStatus, tt.wantCode)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("no valid event", func(t *testing.T) {
		status, body, _ := post(t, base+"/v1/track", "Bearer "+testKey, "application/json", `[{"event_id":"x"}]`)
		errs, _ := body["errors"].([]any)
		if status != 400 || body["rejected"] != 1.0 || len(errs) != 1 {
			t.Fatalf("status %d body %v", status, body)
		}
	})
	if n := streamMessages(t, js, stream); n != 0 {
		t.Fatalf("rejected requests published %d messages", n)
	}
}

func TestPartialAcceptance(t *testing.T) {
	base, stream, js := startIngest(t)
	body := `[{"event_id":"ok","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z"},
	          {"event_id":"bad","user_id":"u","event_name":"x","client_timestamp":"later"},
	          {"event_id":"ok","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z"}]`
	status, res, _ := post(t, base+"/v1/track", "Bearer "+testKey, "application/json", body)
	if status != 202 || res["accepted"] != 1.0 || res["rejected"] != 1.0 || res["duplicates"] != 1.0 {
		t.Fatalf("status %d %v", status, res)
	}
	errs := res["errors"].([]any)
	e := errs[0].(map[string]any)
	if e["index"] != 1.0 || e["event_id"] != "bad" || e["field"] != "client_timestamp" {
		t.Fatalf("error %v", e)
	}
	if n := streamMessages(t, js, stream); n != 1 {
		t.Fatalf("stream holds %d messages", n)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	base, _, _ := startIngest(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Contains(b, []byte(`"ok"`)) {
			t.Fatalf("%s: %d %s", path, res.StatusCode, b)
		}
	}
}
