// Package stack runs the pipeline — ingest, enrich and query — in a test's
// own process against the real NATS and OpenSearch (platform/testenv), on
// names of the test's own: a stream, its subjects and an index prefix. The
// end-to-end tests, the privacy test and the SDK tests (Segment, Swift)
// drive it.
package stack

import (
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

// Names is a test's own part of the real NATS and OpenSearch: a stream, its
// subjects and an index prefix, with the configuration every service of the
// pipeline reads, and what the services log and trace to. The stream and
// the indices are deleted when the test ends, after the services (each run
// with testenv.Start) have stopped.
type Names struct {
	t             testing.TB
	Prefix        string // EVENTS_INDEX_PREFIX
	OpenSearchURL string
	Env           config.LookupFunc
	Log           *slog.Logger // warnings and errors to stderr unless replaced before a service starts
	Tel           *otelx.Telemetry
}

// New gives the test its own names, starting with prefix, and the
// configuration of services running on them, every listener on a free
// port of 127.0.0.1; extra adds settings (write keys, read tokens) or
// overrides these.
func New(t testing.TB, prefix string, tel *otelx.Telemetry, extra map[string]string) *Names {
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
		"SUPPRESSION_BUCKET":    stream + "_SUPPRESSIONS",
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_GRPC_ADDR":      "127.0.0.1:0",
		"ENRICH_HTTP_ADDR":      "127.0.0.1:0",
		"ENRICH_FLUSH_INTERVAL": "100ms",
		"QUERY_GRPC_ADDR":       "127.0.0.1:0",
		"QUERY_HTTP_ADDR":       "127.0.0.1:0",
	}
	maps.Copy(env, extra)
	testenv.DeleteIndexData(t, osURL, name)                        // runs after the services stop
	testenv.DeleteStream(t, env["NATS_URL"], env["EVENTS_STREAM"]) // likewise
	testenv.DeleteKeyValue(t, env["NATS_URL"], env["SUPPRESSION_BUCKET"], env["SUPPRESSION_BUCKET"]+suppression.StatusSuffix)
	return &Names{t: t, Prefix: name, OpenSearchURL: osURL, Env: config.MapLookup(env),
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Tel: tel}
}

// Ingest starts an ingest service on n, for the rest of the test.
func (n *Names) Ingest() *ingest.Service {
	n.t.Helper()
	cfg, err := ingest.LoadConfig(n.Env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := ingest.New(n.t.Context(), cfg, n.Log, n.Tel)
	if err != nil {
		n.t.Fatal(err)
	}
	testenv.Start(n.t, "ingest", s.Run)
	return s
}

// Enrich starts an enrich service on n, for the rest of the test.
func (n *Names) Enrich() *enrich.Service {
	n.t.Helper()
	cfg, err := enrich.LoadConfig(n.Env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := enrich.New(n.t.Context(), cfg, n.Log, n.Tel)
	if err != nil {
		n.t.Fatal(err)
	}
	testenv.Start(n.t, "enrich", s.Run)
	return s
}

// Query starts a query service on n, for the rest of the test.
func (n *Names) Query() *query.Service {
	n.t.Helper()
	s, _ := n.QueryStop()
	return s
}

// QueryStop is Query with the function that stops the service before the
// test ends (a restart in the middle of a test).
func (n *Names) QueryStop() (*query.Service, func() error) {
	n.t.Helper()
	cfg, err := query.LoadConfig(n.Env)
	if err != nil {
		n.t.Fatal(err)
	}
	s, err := query.New(n.t.Context(), cfg, n.Log, n.Tel)
	if err != nil {
		n.t.Fatal(err)
	}
	return s, testenv.Start(n.t, "query", s.Run)
}

// Pipeline is the whole pipeline running on a test's names.
type Pipeline struct {
	*Names
	IngestAddr string // ingest's HTTP listener, host:port
	QueryHTTP  string // query's HTTP/JSON face, http://host:port
	QueryGRPC  string // query's gRPC listener, host:port
}

// Start runs ingest, enrich and query on n, for the rest of the test.
func (n *Names) Start() *Pipeline {
	n.t.Helper()
	in := n.Ingest()
	n.Enrich()
	q := n.Query()
	return &Pipeline{Names: n, IngestAddr: in.Addr(), QueryHTTP: "http://" + q.HTTPAddr(), QueryGRPC: q.GRPCAddr()}
}

// UserEvents reads a user's whole history through the query API's HTTP
// face with the read token, page by page; anything but 200 fails the test.
func (p *Pipeline) UserEvents(t testing.TB, token, user string) []*telemetryv1.StoredEvent {
	t.Helper()
	var out []*telemetryv1.StoredEvent
	pageToken := ""
	for {
		u := p.QueryHTTP + "/v1/users/" + url.PathEscape(user) + "/events?page_size=1000"
		if pageToken != "" {
			u += "&page_token=" + url.QueryEscape(pageToken)
		}
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		code, body := testenv.Send(t, req)
		if code != http.StatusOK {
			t.Fatalf("query: %d %s", code, body)
		}
		var page queryv1.SearchEventsResponse
		if err := protojson.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Events...)
		if pageToken = page.NextPageToken; pageToken == "" {
			return out
		}
	}
}
