package swift

import (
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/platform/otelx"
)

const (
	writeKey  = "swift-write-key-0123456789"
	readToken = "swift-read-token-0123456789"
	appID     = "app-swift"
	// pageTokenKey signs query's page tokens (hex, 32 bytes).
	pageTokenKey = "737769667470616765746f6b656e6b65792d303132333435363738396162636465"
)

// names gives the test its own names on the real NATS and OpenSearch, with
// the Swift app's write key, read token and page token key.
func names(t testing.TB) *stack.Names {
	t.Helper()
	return stack.New(t, "swift", otelx.ForTest(noop.NewTracerProvider()), map[string]string{
		"EVENTS_STREAM_MAX_AGE": "1h",
		"INGEST_WRITE_KEYS":     writeKey + ":" + appID,
		"QUERY_TOKENS":          readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	})
}
