package service

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/logging"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/query/storerequest"
)

// BenchmarkFirstPageOverhead is what the service adds to OpenSearch's own
// time for a user's first page, with OpenSearch's work taken out: a
// stand-in answers every search at once with a first page of 51 documents
// (about 1 KB each, as the load generator's), and one client sends, one
// request at a time,
//   - opensearch: the search the service sends for that page
//     (storerequest) straight to the stand-in;
//   - service: the first page to the service's HTTP face, configured as in
//     production (JSON log with the audit line, the audit trail written to
//     the stand-in, no trace exporter), which sends that search to the
//     stand-in.
//
// service minus opensearch a request is the service's cost a first page:
// its two HTTP hops, authentication, rate limit, audit, the search body,
// decoding OpenSearch's answer and encoding the page. The bench's query
// part measures the same ratio against a real OpenSearch.
func BenchmarkFirstPageOverhead(b *testing.B) {
	const user, token = "user-0012345", "token-all-apps-0123456789"
	answer := firstPageAnswer(51)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_search"):
			w.Write(answer)
		case strings.HasSuffix(r.URL.Path, "/_bulk"):
			w.Write([]byte(`{"took":1,"errors":false,"items":[]}`))
		default:
			w.Write([]byte(`{"acknowledged":true}`))
		}
	}))
	b.Cleanup(store.Close)

	prefix := "bench-events"
	cfg, err := LoadConfig(config.MapLookup(map[string]string{
		"QUERY_GRPC_ADDR": "127.0.0.1:0", "QUERY_HTTP_ADDR": "127.0.0.1:0", "OPENSEARCH_URL": store.URL,
		"EVENTS_INDEX_PREFIX": prefix, "QUERY_TOKENS": token + ":*", "QUERY_PAGE_TOKEN_KEY": testPageTokenKey,
		"NATS_URL": "nats://127.0.0.1:1",
	}))
	if err != nil {
		b.Fatal(err)
	}
	log, err := logging.New(io.Discard, "info", "query")
	if err != nil {
		b.Fatal(err)
	}
	tel, err := otelx.Setup(b.Context(), config.MapLookup(nil), "query", "bench")
	if err != nil {
		b.Fatal(err)
	}
	// The collector as the query binary sets it.
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(MemoryLimit))
	svc, err := New(b.Context(), cfg, log, tel)
	if err != nil {
		b.Fatal(err)
	}
	testenv.Start(b, "query", svc.Run)

	raw, err := storerequest.SearchEvents(prefix, nil, &queryv1.SearchEventsRequest{UserId: user})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	send := func(b *testing.B, req func() *http.Request) {
		b.ReportAllocs()
		for b.Loop() {
			res, err := client.Do(req())
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || n < int64(len(answer))/2 {
				b.Fatalf("%d, %d bytes", res.StatusCode, n)
			}
		}
	}
	b.Run("opensearch", func(b *testing.B) {
		send(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, store.URL+raw.Path, bytes.NewReader(raw.Body))
			r.Header.Set("Content-Type", "application/json")
			return r
		})
	})
	b.Run("service", func(b *testing.B) {
		url := "http://" + svc.HTTPAddr() + "/v1/users/" + user + "/events"
		send(b, func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, url, nil)
			r.Header.Set("Authorization", "Bearer "+token)
			return r
		})
	})
}

// firstPageAnswer is OpenSearch's answer to a first page of n-1 events (the
// service asks for one more than a page, to know whether there is a next).
func firstPageAnswer(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"took":2,"timed_out":false,"_shards":{"total":30,"successful":30,"skipped":0,"failed":0},"hits":{"total":{"value":0,"relation":"gte"},"max_score":null,"hits":[`)
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		ts := at.Add(-time.Duration(i) * time.Minute)
		id := fmt.Sprintf("evt-%08d-4c1e-9a57-%012d", i, i)
		src := eventdoc.Source{DocID: eventdoc.ID("app-a", id), AppID: "app-a", EventID: id, UserID: "user-0012345",
			AnonymousID: "anon-6f1c2b9e-0012345", SessionID: "sess-20261126-0012345", EventName: "screen_view",
			Timestamp: ts, ClientTimestamp: ts.Add(-1200 * time.Millisecond), ReceivedAt: ts.Add(300 * time.Millisecond),
			IngestedAt: ts.Add(900 * time.Millisecond), AppVersion: "4.12.0", DeviceOS: "iOS 18.1", OSName: "iOS", OSVersion: "18.1",
			Country: "DE", Message: "opened the checkout screen after adding two items to the basket",
			Metadata: map[string]string{"screen": "checkout", "build": "1042", "dark_mode": "true", "items": "2", "experiment": "b"}}
		fmt.Fprintf(&b, `{"_index":"bench-events-2026.11.26","_id":%q,"_score":null,"_source":%s,"sort":[%d,%q]}`,
			src.DocID, src.AppendJSON(nil), ts.UnixMilli(), src.DocID)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}
