// Package privacy tests deleting a person's data end to end, against the
// real NATS and OpenSearch: ingest, enrich and query run in this process.
package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
	enrich "github.com/evtrack/telemetry/services/enrich/service"
	ingest "github.com/evtrack/telemetry/services/ingest/service"
	query "github.com/evtrack/telemetry/services/query/service"
)

const (
	writeKey      = "privacy-write-key-0123456789"
	otherWriteKey = "privacy-other-write-key-0123456789"
	deleteToken   = "privacy-delete-token-0123456789"
	readToken     = "privacy-read-token-0123456789"
	appID         = "app-privacy"
	otherApp      = "app-privacy-other"
	pageTokenKey  = "7072697661637920706167652d746f6b656e2d6b65792d3031323334353637383961"
	// The person deleted: a user id, and an anonymous id that some of their
	// events carry alone.
	goneUser = "user-gone"
	goneAnon = "anon-gone"
	days     = 30
)

type stack struct {
	t      *testing.T
	prefix string
	osURL  string
	env    config.LookupFunc
	log    *slog.Logger
	tel    *otelx.Telemetry
}

func newStack(t *testing.T) *stack {
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "privacy")
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	bucket := stream + "_SUPPRESSIONS"
	env := map[string]string{
		"NATS_URL": natsURL, "OPENSEARCH_URL": osURL,
		"EVENTS_STREAM": stream, "EVENTS_SUBJECT_PREFIX": strings.ReplaceAll(name, "-", "_") + ".events",
		"EVENTS_INDEX_PREFIX": name, "SUPPRESSION_BUCKET": bucket,
		"INGEST_HTTP_ADDR": "127.0.0.1:0", "INGEST_GRPC_ADDR": "127.0.0.1:0", "INGEST_WRITE_KEYS": writeKey + ":" + appID + "," + otherWriteKey + ":" + otherApp,
		"ENRICH_HTTP_ADDR": "127.0.0.1:0", "ENRICH_FLUSH_INTERVAL": "100ms",
		"QUERY_GRPC_ADDR": "127.0.0.1:0", "QUERY_HTTP_ADDR": "127.0.0.1:0",
		"QUERY_TOKENS":         deleteToken + ":" + appID + "|" + otherApp + ":delete," + readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY": pageTokenKey,
		// Small, paced pages: the job runs for seconds, so the query
		// service can be stopped in the middle of it.
		"QUERY_DELETE_PAGE_SIZE": "10", "QUERY_DELETE_PAGE_INTERVAL": "150ms", "QUERY_DELETE_POLL": "200ms",
	}
	testenv.DeleteIndexData(t, osURL, name)
	t.Cleanup(func() {
		if nc, err := nats.Connect(natsURL); err == nil {
			if js, err := njs.New(nc); err == nil {
				_ = js.DeleteStream(context.Background(), stream)
				_ = js.DeleteKeyValue(context.Background(), bucket)
				_ = js.DeleteKeyValue(context.Background(), bucket+suppression.StatusSuffix)
			}
			nc.Close()
		}
	})
	return &stack{t: t, prefix: name, osURL: osURL, env: config.MapLookup(env),
		log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		tel: otelx.ForTest(noop.NewTracerProvider())}
}

func (s *stack) ingest() *ingest.Service {
	cfg, err := ingest.LoadConfig(s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	svc, err := ingest.New(s.t.Context(), cfg, s.log, s.tel)
	if err != nil {
		s.t.Fatal(err)
	}
	testenv.Start(s.t, "ingest", svc.Run)
	return svc
}

func (s *stack) enrich() *enrich.Service {
	cfg, err := enrich.LoadConfig(s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	svc, err := enrich.New(s.t.Context(), cfg, s.log, s.tel)
	if err != nil {
		s.t.Fatal(err)
	}
	testenv.Start(s.t, "enrich", svc.Run)
	return svc
}

func (s *stack) query() (*query.Service, func() error) {
	cfg, err := query.LoadConfig(s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	svc, err := query.New(s.t.Context(), cfg, s.log, s.tel)
	if err != nil {
		s.t.Fatal(err)
	}
	return svc, testenv.Start(s.t, "query", svc.Run)
}

// event is what the test writes and counts: the document fields it sets.
type event struct {
	AppID       string `json:"app_id"`
	EventID     string `json:"event_id"`
	UserID      string `json:"user_id,omitempty"`
	AnonymousID string `json:"anonymous_id,omitempty"`
	EventName   string `json:"event_name"`
	Timestamp   string `json:"timestamp"`
	ClientTime  string `json:"client_timestamp"`
}

func (e event) person() bool {
	return e.AppID == appID && (e.UserID == goneUser || e.AnonymousID == goneAnon)
}

// seed writes, straight into OpenSearch, the past 30 days: per day 8 events
// of the person by user id, 2 by anonymous id only, 3 of each of 4 other
// people, and 2 of the person's user id in another app (a different
// person: deletion is within one app); and into the dead-letter index 3
// letters of the person and 2 of others. It returns the events of others.
func (s *stack) seed(now time.Time) (others map[string]bool, letters int) {
	others = map[string]bool{}
	var body opensearchx.BulkBody
	add := func(day time.Time, e event) {
		e.EventName, e.Timestamp, e.ClientTime = "seeded", day.Format(time.RFC3339), day.Format(time.RFC3339)
		doc, _ := json.Marshal(e)
		body.Create(eventdoc.IndexName(s.prefix, day), eventdoc.ID(e.AppID, e.EventID), doc)
		if !e.person() {
			others[e.AppID+"/"+e.EventID] = true
		}
	}
	for d := 1; d <= days; d++ {
		day := now.AddDate(0, 0, -d)
		for i := range 8 {
			add(day, event{AppID: appID, EventID: fmt.Sprintf("old-%d-gone-%d", d, i), UserID: goneUser, AnonymousID: goneAnon})
		}
		for i := range 2 {
			add(day, event{AppID: appID, EventID: fmt.Sprintf("old-%d-anon-%d", d, i), AnonymousID: goneAnon})
		}
		for u := range 4 {
			for i := range 3 {
				add(day, event{AppID: appID, EventID: fmt.Sprintf("old-%d-u%d-%d", d, u, i), UserID: fmt.Sprintf("user-%d", u)})
			}
		}
		for i := range 2 {
			add(day, event{AppID: otherApp, EventID: fmt.Sprintf("old-%d-otherapp-%d", d, i), UserID: goneUser})
		}
	}
	dl := eventdoc.DeadLetterIndex(s.prefix, now.AddDate(0, 0, -2))
	for i, who := range []event{{UserID: goneUser}, {UserID: goneUser}, {AnonymousID: goneAnon}, {UserID: "user-1"}, {UserID: "user-2"}} {
		who.AppID, who.EventID, who.EventName = appID, fmt.Sprintf("dl-%d", i), "refused"
		doc, _ := json.Marshal(who)
		id := eventdoc.ID(appID, who.EventID)
		letter, _ := json.Marshal(eventdoc.DeadLetter{DocID: id, AppID: appID, EventID: who.EventID, Index: eventdoc.IndexName(s.prefix, now),
			Status: 400, ErrorType: "mapper_parsing_exception", ErrorReason: "test", FailedAt: now, Document: doc})
		body.Create(dl, id, letter)
	}
	testenv.Bulk(s.t, s.osURL, &body)
	return others, 2
}

// sender posts batches through ingest: events of the person and of others,
// every few milliseconds, until stopped; it records the others' events that
// ingest accepted.
type sender struct {
	url    string
	mu     sync.Mutex
	others map[string]bool
	seq    atomic.Int64
	gone   atomic.Int64 // the person's events accepted
}

func (s *sender) post(t *testing.T, withPerson bool) bool {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	n := s.seq.Add(1)
	var batch []map[string]string
	var ids []string
	for u := range 2 {
		id := fmt.Sprintf("live-%d-u%d", n, u)
		batch = append(batch, map[string]string{"event_id": id, "user_id": fmt.Sprintf("user-%d", u), "event_name": "live", "client_timestamp": now})
		ids = append(ids, appID+"/"+id)
	}
	if withPerson {
		batch = append(batch, map[string]string{"event_id": fmt.Sprintf("live-%d-gone", n), "user_id": goneUser, "anonymous_id": goneAnon, "event_name": "live", "client_timestamp": now},
			map[string]string{"event_id": fmt.Sprintf("live-%d-anon", n), "anonymous_id": goneAnon, "event_name": "live", "client_timestamp": now})
	}
	b, _ := json.Marshal(batch)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/track", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+writeKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("post: %v", err)
		return false
	}
	defer res.Body.Close()
	var out struct {
		Accepted int `json:"accepted"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != http.StatusAccepted || out.Accepted != len(batch) {
		t.Logf("post: %d, accepted %d of %d", res.StatusCode, out.Accepted, len(batch))
		return false
	}
	s.mu.Lock()
	for _, id := range ids {
		s.others[id] = true
	}
	s.mu.Unlock()
	if withPerson {
		s.gone.Add(2)
	}
	return true
}

func (s *sender) run(ctx context.Context, t *testing.T) {
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.post(t, true)
		}
	}
}

func (s *sender) accepted() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.others))
	for k := range s.others {
		out[k] = true
	}
	return out
}
