package natsx

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/credentials"
)

func TestHeaderCarrierRoundTrip(t *testing.T) {
	prop := propagation.TraceContext{}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{9, 9, 9}, SpanID: trace.SpanID{7}, TraceFlags: trace.FlagsSampled,
	})
	h := nats.Header{}
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sc), HeaderCarrier(h))
	if h.Get("traceparent") == "" {
		t.Fatalf("no traceparent header in %v", h)
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), HeaderCarrier(h)))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Fatalf("extracted %v, want %v", got, sc)
	}
	if keys := HeaderCarrier(h).Keys(); len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
}

// TestConnectNeverLogsCredentials: a NATS URL with a user and password
// (or a token) that cannot be reached fails with an error, and neither the
// error nor any log line carries the secret.
func TestConnectNeverLogsCredentials(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, url := range []string{"nats://alice:s3cret-pass@127.0.0.1:1", "nats://s3cret-token@127.0.0.1:1,nats://127.0.0.1:2"} {
		_, err := Connect(context.Background(), url, "test", log)
		if err == nil {
			t.Fatalf("connected to %s", credentials.RedactURLs(url))
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(logs.String(), "s3cret") {
			t.Fatalf("the secret leaked: error %q, logs %q", err, logs.String())
		}
		if !strings.Contains(err.Error(), "redacted@127.0.0.1:1") {
			t.Fatalf("error %q does not say which server", err)
		}
	}
}
