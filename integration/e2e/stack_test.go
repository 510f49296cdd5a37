package e2e

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

const (
	writeKey  = "e2e-write-key-0123456789"
	readToken = "e2e-read-token-0123456789"
	otherRead = "e2e-other-token-0123456789"
	appID     = "app-e2e"
	// pageTokenKey signs query's page tokens (hex, 32 bytes).
	pageTokenKey = "6532652d706167652d746f6b656e2d6b65792d303132333435363738396162636465"
)

// stack is the whole pipeline running in this test process against the real
// NATS and OpenSearch, on names of its own. Each service runs until the test
// ends (testenv.Start); then they are stopped, last started first, and
// waited for before the stream and the indices are deleted.
type stack struct {
	ingestURL   string
	queryHTTP   string
	queryGRPC   string
	osURL       string
	indexPrefix string
}

func startStack(t *testing.T, tel *otelx.Telemetry) *stack {
	t.Helper()
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "e2e")
	env := map[string]string{
		"NATS_URL":              natsURL,
		"OPENSEARCH_URL":        osURL,
		"EVENTS_STREAM":         strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		"EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX":   name,
		"EVENTS_STREAM_MAX_AGE": "1h",
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_WRITE_KEYS":     writeKey + ":" + appID,
		"ENRICH_HTTP_ADDR":      "127.0.0.1:0",
		"ENRICH_FLUSH_INTERVAL": "100ms",
		"QUERY_GRPC_ADDR":       "127.0.0.1:0",
		"QUERY_HTTP_ADDR":       "127.0.0.1:0",
		"QUERY_TOKENS":          readToken + ":" + appID + "," + otherRead + ":some-other-app",
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	}
	lookup := config.MapLookup(env)
	testenv.DeleteIndexData(t, osURL, name) // runs after the services stop
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() { deleteStream(t, natsURL, env["EVENTS_STREAM"]) }) // after the services stop
	ctx := t.Context()

	icfg, err := ingest.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, icfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "ingest", in.Run)
	ecfg, err := enrich.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrich.New(ctx, ecfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "enrich", en.Run)
	qcfg, err := query.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.New(ctx, qcfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "query", q.Run)
	return &stack{ingestURL: "http://" + in.Addr(), queryHTTP: "http://" + q.HTTPAddr(), queryGRPC: q.GRPCAddr(), osURL: osURL, indexPrefix: name}
}

func deleteStream(t *testing.T, natsURL, stream string) {
	t.Helper()
	if nc, err := nats.Connect(natsURL); err == nil {
		if js, err := njs.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), stream)
		}
		nc.Close()
	}
}
