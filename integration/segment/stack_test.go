package segment

import (
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/platform/otelx"
)

const (
	writeKey  = "segment-write-key-0123456789"
	readToken = "segment-read-token-0123456789"
	appID     = "app-segment"
	// pageTokenKey signs query's page tokens (hex, 32 bytes).
	pageTokenKey = "737769667470616765746f6b656e6b65792d303132333435363738396162636465"
)

// startStack runs the whole pipeline in this test process against the real
// NATS and OpenSearch, on names of its own, for the Segment app.
func startStack(t *testing.T) *stack.Pipeline {
	t.Helper()
	return stack.New(t, "segment", otelx.ForTest(noop.NewTracerProvider()), map[string]string{
		"EVENTS_STREAM_MAX_AGE": "1h",
		"INGEST_WRITE_KEYS":     writeKey + ":" + appID,
		"QUERY_TOKENS":          readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	}).Start()
}
