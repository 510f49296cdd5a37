package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
)

const (
	tokenA   = "token-app-a-0123456789"    // app-a only
	tokenAll = "token-all-apps-0123456789" // every app
	tokenC   = "token-app-c-0123456789"    // an app with no data
)

// base is the fixtures' reference time: two days ago at 10:00 UTC.
var base = time.Now().UTC().Truncate(24 * time.Hour).Add(-48*time.Hour + 10*time.Hour)

// fixture is one event document written through the real index template.
type fixture struct {
	app, id, user, anon, session, name string
	at                                 time.Duration // after base
	version, os, osName, country, msg  string
	meta                               map[string]string
}

// fixtures, hand-counted in the tests below:
//
//	app-a u1: 10 events, sessions s1 (6) and s2 (4), iOS, GB; names: screen_view 5, tap 3, purchase 1, crash 1
//	app-a u2: 3 events, Android, DE
//	app-a anonymous anon-1: 2 events
//	app-b u1: 2 events (same user id, other app)
//	u3: event "shared-1" in both apps, 3h after base
var fixtures = func() []fixture {
	var fs []fixture
	names := []string{"screen_view", "tap", "screen_view", "tap", "screen_view", "screen_view", "tap", "screen_view", "purchase", "crash"}
	for i, n := range names {
		f := fixture{app: "app-a", id: fmt.Sprintf("a-u1-%02d", i), user: "u1", session: "s1", name: n,
			at: time.Duration(i) * 10 * time.Minute, version: "4.2.0", os: "iOS 18.1", osName: "iOS", country: "GB",
			msg: "opened the home screen", meta: map[string]string{"screen": "home"}}
		if i >= 6 {
			f.session, f.version = "s2", "4.3.0"
		}
		switch n {
		case "purchase":
			f.msg, f.meta = "bought a red bicycle", map[string]string{"sku": "BIKE-RED", "amount": "199.99", "paid_with": "a gift card from Anna"}
		case "crash":
			f.msg, f.meta = "app crashed: null pointer in CheckoutView", map[string]string{"screen": "checkout"}
		}
		fs = append(fs, f)
	}
	for i := 0; i < 3; i++ {
		fs = append(fs, fixture{app: "app-a", id: fmt.Sprintf("a-u2-%d", i), user: "u2", session: "s9", name: "tap",
			at: time.Duration(i)*time.Minute + 5*time.Minute, version: "4.2.0", os: "Android 14", osName: "Android", country: "DE", msg: "tapped a button"})
	}
	for i := 0; i < 2; i++ {
		fs = append(fs, fixture{app: "app-a", id: fmt.Sprintf("a-anon-%d", i), anon: "anon-1", name: "app_open",
			at: time.Duration(i) * time.Hour, os: "iOS 17.0", osName: "iOS", msg: "first launch"})
	}
	for i := 0; i < 2; i++ {
		fs = append(fs, fixture{app: "app-b", id: fmt.Sprintf("b-u1-%d", i), user: "u1", session: "sb", name: "screen_view",
			at: time.Duration(i) * time.Minute, country: "FR", msg: "other app"})
	}
	// The same event id in two apps.
	for _, app := range []string{"app-a", "app-b"} {
		fs = append(fs, fixture{app: app, id: "shared-1", user: "u3", session: "s3", name: "login", at: 3 * time.Hour, country: "US", msg: "signed in"})
	}
	return fs
}()

func (f fixture) source() eventdoc.Source {
	ts := base.Add(f.at)
	s := eventdoc.Source{DocID: eventdoc.ID(f.app, f.id), AppID: f.app, EventID: f.id, UserID: f.user, AnonymousID: f.anon,
		SessionID: f.session, EventName: f.name, Timestamp: ts, ClientTimestamp: ts, ReceivedAt: ts.Add(time.Second),
		IngestedAt: ts.Add(2 * time.Second), AppVersion: f.version, DeviceOS: f.os, OSName: f.osName, OSVersion: osVersion(f.os), Country: f.country,
		Metadata: f.meta, Message: f.msg}
	s.FillTextCopies() // as enrich does
	return s
}

// testPageTokenKey is the page-token key of the test services (hex, 32 bytes).
const testPageTokenKey = "746573742d706167652d746f6b656e2d6b65792d30313233343536373839616263"

type env struct {
	osURL, prefix string
	http          string
	metrics       string // http://host:port of /metrics
	grpcAddr      string
	conn          *grpc.ClientConn
	grpc          queryv1.QueryServiceClient
}

// startQuery writes the fixtures into daily indices of a fresh prefix,
// through the real template, and starts a query service over them.
func startQuery(t *testing.T, extra map[string]string) *env {
	t.Helper()
	osURL, prefix := writeFixtures(t)
	return runQuery(t, osURL, prefix, extra)
}

// writeFixtures writes the fixtures into daily indices of a fresh prefix,
// through the real template, and deletes everything under it when the test
// ends.
func writeFixtures(t *testing.T) (osURL, prefix string) {
	t.Helper()
	osURL = testenv.OpenSearchURL(t)
	prefix = testenv.Name(t, "query")
	tpl, err := templates.Events(prefix)
	if err != nil {
		t.Fatal(err)
	}
	testenv.PutJSON(t, osURL, "/_index_template/"+tpl.Name, string(tpl.Body))
	testenv.DeleteIndexData(t, osURL, prefix)
	var sources []eventdoc.Source
	for _, f := range fixtures {
		sources = append(sources, f.source())
	}
	index(t, osURL, prefix, sources...)
	return osURL, prefix
}

// runQuery starts a query service (one more instance, if called again) over
// prefix's indices; extra overrides or adds configuration. The service runs
// in-process until the test ends (testenv.Start); an error from its Run
// fails the test.
func runQuery(t *testing.T, osURL, prefix string, extra map[string]string) *env {
	t.Helper()
	vars := map[string]string{
		"QUERY_GRPC_ADDR": "127.0.0.1:0", "QUERY_HTTP_ADDR": "127.0.0.1:0", "OPENSEARCH_URL": osURL,
		"EVENTS_INDEX_PREFIX": prefix, "QUERY_TOKENS": tokenA + ":app-a," + tokenAll + ":*," + tokenC + ":app-c",
		"QUERY_PAGE_TOKEN_KEY": testPageTokenKey,
	}
	maps.Copy(vars, extra)
	cfg, err := LoadConfig(config.MapLookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), otelx.ForTest(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "query", svc.Run)
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{osURL: osURL, prefix: prefix, http: "http://" + svc.HTTPAddr(), metrics: "http://" + svc.MetricsAddr(), grpcAddr: svc.GRPCAddr(), conn: conn,
		grpc: queryv1.NewQueryServiceClient(conn)}
}

// putAuditIndices creates indices, audit indices of prefix, through the
// current audit template, as a running service would have (the retention
// tests make them days old by their names).
func putAuditIndices(t *testing.T, osURL, prefix string, indices ...string) {
	t.Helper()
	tpl, err := templates.Audit(prefix)
	if err != nil {
		t.Fatal(err)
	}
	testenv.PutJSON(t, osURL, "/_index_template/"+tpl.Name, string(tpl.Body))
	for _, index := range indices {
		testenv.PutJSON(t, osURL, "/"+index, "")
	}
}

// auditHits returns the _source of every entry in prefix's audit indices,
// oldest first, with the index each is in as "_index", after a refresh; or
// OpenSearch's error, which a poll takes for "not yet" (testenv.Sources).
func auditHits(t *testing.T, osURL, prefix string) ([]map[string]any, error) {
	t.Helper()
	return testenv.Sources(t, osURL, eventdoc.AuditPattern(prefix), `{"size":100,"sort":[{"time":{"order":"asc","unmapped_type":"date"}}]}`)
}

// waitAuditHits waits until prefix's audit indices hold at least n entries
// and returns them (see auditHits).
func waitAuditHits(t *testing.T, osURL, prefix string, n int) []map[string]any {
	t.Helper()
	var hits []map[string]any
	testenv.EventuallyState(t, 15*time.Second, fmt.Sprintf("%d audit entries", n), func() (bool, string) {
		var err error
		if hits, err = auditHits(t, osURL, prefix); err != nil {
			return false, err.Error()
		}
		return len(hits) >= n, fmt.Sprintf("%d entries", len(hits))
	})
	return hits
}

// index writes documents with create into their daily indices and refreshes.
func index(t *testing.T, osURL, prefix string, docs ...eventdoc.Source) {
	t.Helper()
	if err := indexDocs(osURL, prefix, docs...); err != nil {
		t.Fatal(err)
	}
}

// indexDocs bulk-creates docs into their daily indices and refreshes
// them; it returns what went wrong instead of failing the test, so that a
// goroutine may call it.
func indexDocs(osURL, prefix string, docs ...eventdoc.Source) error {
	var body opensearchx.BulkBody
	for _, d := range docs {
		body.Create(eventdoc.IndexName(prefix, d.Timestamp), d.DocID, d.AppendJSON(nil))
	}
	c, err := opensearchx.NewClient(opensearchx.Options{URL: osURL, Transport: http.DefaultTransport})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := opensearchx.BulkAll(ctx, c, &body); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	refresh := "/" + eventdoc.Pattern(prefix) + "/_refresh?allow_no_indices=true&ignore_unavailable=true"
	if _, err := opensearchx.Do(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: refresh}); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	return nil
}

func authed(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// get calls the HTTP face and returns status and body. A successful answer
// of the API (/v1/) must come whole with its length (not chunked).
func (e *env) get(t *testing.T, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.http+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if strings.HasPrefix(path, "/v1/") && res.StatusCode == http.StatusOK && res.ContentLength != int64(len(b)) {
		t.Errorf("GET %s: Content-Length %d, body %d bytes (chunked: %v)", path, res.ContentLength, len(b), res.TransferEncoding)
	}
	return res.StatusCode, b
}

func itoa(i int) string { return strconv.Itoa(i) }

func osVersion(deviceOS string) string {
	if f := strings.Fields(deviceOS); len(f) == 2 {
		return f[1]
	}
	return ""
}
