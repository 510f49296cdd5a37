package e2e

import (
	"context"
	"log/slog"
	"maps"
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

// names is a test's own part of the real NATS and OpenSearch: a stream,
// its subjects and an index prefix, with the configuration every service
// of the pipeline reads, and what the services log and trace to. Their
// stream and indices are deleted when the test ends, after the services
// (each run with testenv.Start) have stopped.
type names struct {
	t      *testing.T
	prefix string // EVENTS_INDEX_PREFIX
	osURL  string
	env    config.LookupFunc
	log    *slog.Logger
	tel    *otelx.Telemetry
}

// newNames gives the test its own names, starting with prefix, and the
// configuration of services running on them; extra adds or overrides
// settings.
func newNames(t *testing.T, prefix string, tel *otelx.Telemetry, extra map[string]string) *names {
	t.Helper()
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, prefix)
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	env := map[string]string{
		"NATS_URL":              natsURL,
		"OPENSEARCH_URL":        osURL,
		"EVENTS_STREAM":         stream,
		"EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX":   name,
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_WRITE_KEYS":     writeKey + ":" + appID,
		"ENRICH_HTTP_ADDR":      "127.0.0.1:0",
		"ENRICH_FLUSH_INTERVAL": "100ms",
	}
	maps.Copy(env, extra)
	testenv.DeleteIndexData(t, osURL, name)                // runs after the services stop
	t.Cleanup(func() { deleteStream(t, natsURL, stream) }) // likewise
	return &names{t: t, prefix: name, osURL: osURL, env: config.MapLookup(env),
		log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), tel: tel}
}

// ingest starts an ingest service on n.
func (n *names) ingest() *ingest.Service {
	n.t.Helper()
	cfg, err := ingest.LoadConfig(n.env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := ingest.New(n.t.Context(), cfg, n.log, n.tel)
	if err != nil {
		n.t.Fatal(err)
	}
	testenv.Start(n.t, "ingest", s.Run)
	return s
}

// enrich starts an enrich service on n.
func (n *names) enrich() *enrich.Service {
	n.t.Helper()
	cfg, err := enrich.LoadConfig(n.env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := enrich.New(n.t.Context(), cfg, n.log, n.tel)
	if err != nil {
		n.t.Fatal(err)
	}
	testenv.Start(n.t, "enrich", s.Run)
	return s
}

// query starts a query service on n.
func (n *names) query() *query.Service {
	n.t.Helper()
	cfg, err := query.LoadConfig(n.env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := query.New(n.t.Context(), cfg, n.log, n.tel)
	if err != nil {
		n.t.Fatal(err)
	}
	testenv.Start(n.t, "query", s.Run)
	return s
}

// stack is the whole pipeline running in this test process against the real
// NATS and OpenSearch, on names of its own.
type stack struct {
	ingestURL   string
	queryHTTP   string
	queryGRPC   string
	osURL       string
	indexPrefix string
}

func startStack(t *testing.T, tel *otelx.Telemetry) *stack {
	t.Helper()
	n := newNames(t, "e2e", tel, map[string]string{
		"EVENTS_STREAM_MAX_AGE": "1h",
		"QUERY_GRPC_ADDR":       "127.0.0.1:0",
		"QUERY_HTTP_ADDR":       "127.0.0.1:0",
		"QUERY_TOKENS":          readToken + ":" + appID + "," + otherRead + ":some-other-app",
		"QUERY_PAGE_TOKEN_KEY":  pageTokenKey,
	})
	in := n.ingest()
	n.enrich()
	q := n.query()
	return &stack{ingestURL: "http://" + in.Addr(), queryHTTP: "http://" + q.HTTPAddr(), queryGRPC: q.GRPCAddr(), osURL: n.osURL, indexPrefix: n.prefix}
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
