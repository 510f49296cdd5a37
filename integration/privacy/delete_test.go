// Package privacy tests deleting a person's data end to end, against the
// real NATS and OpenSearch: ingest, enrich and query run in this process.
package privacy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/evtrack/telemetry/integration/internal/stack"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
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

// fixture is the pipeline on the test's own names (integration/internal/stack).
type fixture struct {
	*stack.Names
	t *testing.T
}

func newStack(t *testing.T) *fixture {
	return &fixture{t: t, Names: stack.New(t, "privacy", otelx.ForTest(noop.NewTracerProvider()), map[string]string{
		"INGEST_WRITE_KEYS":    writeKey + ":" + appID + "," + otherWriteKey + ":" + otherApp,
		"QUERY_TOKENS":         deleteToken + ":" + appID + "|" + otherApp + ":delete," + readToken + ":" + appID,
		"QUERY_PAGE_TOKEN_KEY": pageTokenKey,
		// Small, paced pages: the job runs for seconds, so the query
		// service can be stopped in the middle of it.
		"QUERY_DELETE_PAGE_SIZE": "10", "QUERY_DELETE_PAGE_INTERVAL": "150ms", "QUERY_DELETE_POLL": "200ms",
	})}
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
func (s *fixture) seed(now time.Time) (others map[string]bool, letters int) {
	others = map[string]bool{}
	var body opensearchx.BulkBody
	add := func(day time.Time, e event) {
		e.EventName, e.Timestamp, e.ClientTime = "seeded", day.Format(time.RFC3339), day.Format(time.RFC3339)
		doc, _ := json.Marshal(e)
		body.Create(eventdoc.IndexName(s.Prefix, day), eventdoc.ID(e.AppID, e.EventID), doc)
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
	dl := eventdoc.DeadLetterIndex(s.Prefix, now.AddDate(0, 0, -2))
	for i, who := range []event{{UserID: goneUser}, {UserID: goneUser}, {AnonymousID: goneAnon}, {UserID: "user-1"}, {UserID: "user-2"}} {
		who.AppID, who.EventID, who.EventName = appID, fmt.Sprintf("dl-%d", i), "refused"
		doc, _ := json.Marshal(who)
		id := eventdoc.ID(appID, who.EventID)
		letter, _ := json.Marshal(eventdoc.DeadLetter{DocID: id, AppID: appID, EventID: who.EventID, Index: eventdoc.IndexName(s.Prefix, now),
			Status: 400, ErrorType: "mapper_parsing_exception", ErrorReason: "test", FailedAt: now, Document: doc})
		body.Create(dl, id, letter)
	}
	testenv.Bulk(s.t, s.OpenSearchURL, &body)
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
