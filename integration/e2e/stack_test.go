package e2e

import (
	"maps"
	"testing"

	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/platform/otelx"
)

const (
	writeKey  = "e2e-write-key-0123456789"
	readToken = "e2e-read-token-0123456789"
	// deleteToken may also delete people (the privacy tests).
	deleteToken = "e2e-delete-token-0123456789"
	otherRead   = "e2e-other-token-0123456789"
	appID       = "app-e2e"
	// pageTokenKey signs query's page tokens (hex, 32 bytes).
	pageTokenKey = "6532652d706167652d746f6b656e2d6b65792d303132333435363738396162636465"
)

// newNames gives the test its own names on the real NATS and OpenSearch
// (stack.New), starting with prefix, with the e2e app's write key; extra
// adds or overrides settings.
func newNames(t *testing.T, prefix string, tel *otelx.Telemetry, extra map[string]string) *stack.Names {
	t.Helper()
	env := map[string]string{"INGEST_WRITE_KEYS": writeKey + ":" + appID}
	maps.Copy(env, extra)
	return stack.New(t, prefix, tel, env)
}

// startStack runs the whole pipeline in this test process, with a read
// token for the e2e app and one for another app.
func startStack(t *testing.T, tel *otelx.Telemetry) *stack.Pipeline {
	t.Helper()
	return newNames(t, "e2e", tel, map[string]string{
		"EVENTS_STREAM_MAX_AGE": "1h",
		"QUERY_TOKENS":          readToken + ":" + appID + "," + otherRead + ":some-other-app",
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	}).Start()
}
