package segment

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

const (
	writeKey  = "segment-write-key-0123456789"
	readToken = "segment-read-token-0123456789"
	appID     = "app-segment"
	// pageTokenKey signs query's page tokens (hex, 32 bytes).
	pageTokenKey = "737769667470616765746f6b656e6b65792d303132333435363738396162636465"
)

// stack is the pipeline in this test process against the real NATS and
// OpenSearch, on names of its own: ingest alone, or with enrich and query.
type stack struct {
	ingestAddr  string
	queryHTTP   string
	osURL       string
	indexPrefix string
}

func startStack(t testing.TB, withReadSide bool) *stack {
	t.Helper()
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "segment")
	env := map[string]string{
		"NATS_URL":              natsURL,
		"OPENSEARCH_URL":        osURL,
		"EVENTS_STREAM":         strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		"EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX":   name,
		"EVENTS_STREAM_MAX_AGE": "1h",
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_GRPC_ADDR":      "127.0.0.1:0",
		"INGEST_WRITE_KEYS":     writeKey + ":" + appID,
		"ENRICH_HTTP_ADDR":      "127.0.0.1:0",
		"ENRICH_FLUSH_INTERVAL": "100ms",
		"QUERY_GRPC_ADDR":       "127.0.0.1:0",
		"QUERY_HTTP_ADDR":       "127.0.0.1:0",
		"QUERY_TOKENS":          readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	}
	lookup := config.MapLookup(env)
	testenv.DeleteIndexData(t, osURL, name) // runs after the services stop
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tel := otelx.ForTest(noop.NewTracerProvider())
	t.Cleanup(func() { deleteStream(t, natsURL, env["EVENTS_STREAM"]) }) // after the services stop
	ctx, run := runServices(t)

	icfg, err := ingest.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, icfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	run(in)
	s := &stack{ingestAddr: in.Addr(), osURL: osURL, indexPrefix: name}
	if !withReadSide {
		return s
	}
	ecfg, err := enrich.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	en, err := enrich.New(ctx, ecfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	run(en)
	qcfg, err := query.LoadConfig(lookup)
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.New(ctx, qcfg, log, tel)
	if err != nil {
		t.Fatal(err)
	}
	run(q)
	s.queryHTTP = "http://" + q.HTTPAddr()
	return s
}

func deleteStream(t testing.TB, natsURL, stream string) {
	t.Helper()
	if nc, err := nats.Connect(natsURL); err == nil {
		if js, err := njs.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), stream)
		}
		nc.Close()
	}
}

// runServices returns the context services run under and a function that
// runs one until the test ends; cleanup stops them all and reports a Run
// that failed.
func runServices(t testing.TB) (context.Context, func(interface{ Run(context.Context) error })) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	t.Cleanup(func() {
		cancel()
		for _, ch := range done {
			if err := <-ch; err != nil {
				t.Errorf("service Run: %v", err)
			}
		}
	})
	return ctx, func(r interface{ Run(context.Context) error }) {
		ch := make(chan error, 1)
		done = append(done, ch)
		go func() { ch <- r.Run(ctx) }()
	}
}
