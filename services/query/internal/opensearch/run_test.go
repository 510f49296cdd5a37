package opensearch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// searcherAt returns a Searcher of prefix "p" whose OpenSearch is handler.
func searcherAt(t testing.TB, handler http.Handler) *Searcher {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	c, err := opensearchx.NewClient(opensearchx.Options{URL: srv.URL, Transport: srv.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSearcher(c, "p")
	s.startWaits = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	return s
}

// pageAnswer is a search answer of n hits, each with its sort values.
func pageAnswer(n int) []byte {
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString(`{"took":3,"timed_out":false,"hits":{"hits":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		s := eventdoc.Source{DocID: fmt.Sprintf("%032d", i), AppID: "app-a", EventID: fmt.Sprintf("e-%d", i), UserID: "user-0012345",
			SessionID: "s-1", EventName: "screen_view", Timestamp: at, ClientTimestamp: at, ReceivedAt: at, IngestedAt: at,
			AppVersion: "4.2.0", DeviceOS: "iOS 18.1", OSName: "iOS", OSVersion: "18.1", Country: "GB",
			Metadata: map[string]string{"screen": "home"}, Message: "opened the home screen"}
		fmt.Fprintf(&b, `{"_index":"p-2026.11.26","_id":%q,"_score":null,"_source":%s,"sort":[%d,%q]}`,
			s.DocID, s.AppendJSON(nil), at.UnixMilli(), s.DocID)
	}
	b.WriteString(`]}}`)
	return []byte(b.String())
}

// TestSearchAsksThePrefixAndMapsAnswers: a search goes to the prefix's
// pattern (missing indices are no error) and its answer becomes a page; an
// answer that says the cluster cannot serve now (429, 5xx) or no answer at
// all is search.ErrStoreUnavailable, which the edge maps to Unavailable; any
// other error status is not, and says what OpenSearch said.
func TestSearchAsksThePrefixAndMapsAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		unavailable bool
		wantErrIn   string
	}{
		{"page", http.StatusOK, string(pageAnswer(3)), false, ""},
		{"too many requests", http.StatusTooManyRequests, `{"error":{"type":"rejected_execution_exception"}}`, true, "429"},
		{"shards failed", http.StatusServiceUnavailable, `{"error":{"type":"search_phase_execution_exception"}}`, true, "503"},
		{"bad gateway page", http.StatusBadGateway, "<html>proxy</html>", true, "502"},
		// 200 with some shards' hits only: served as a page, its token would
		// skip the missing shards' events for good.
		{"some shards failed", http.StatusOK, strings.Replace(string(pageAnswer(3)), `"timed_out":false,`,
			`"timed_out":false,"_shards":{"total":30,"successful":29,"skipped":0,"failed":1,"failures":[{"shard":0,"index":"p-2026.11.26"}]},`, 1),
			true, "29 of 30 shards answered (1 failed)"},
		// A red index: its shard is in the total, neither successful nor failed.
		{"a shard with no copy started", http.StatusOK, strings.Replace(string(pageAnswer(3)), `"timed_out":false,`,
			`"timed_out":false,"_shards":{"total":2,"successful":1,"skipped":0,"failed":0},`, 1),
			true, "1 of 2 shards answered (0 failed)"},
		{"timed out", http.StatusOK, strings.Replace(string(pageAnswer(3)), `"timed_out":false,`, `"timed_out":true,`, 1), true, "timed out"},
		{"every shard answered", http.StatusOK, strings.Replace(string(pageAnswer(3)), `"timed_out":false,`,
			`"timed_out":false,"_shards":{"total":30,"successful":27,"skipped":3,"failed":0},`, 1), false, ""},
		{"bad request", http.StatusBadRequest, `{"error":{"type":"parsing_exception","reason":"bad"}}`, false, "parsing_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := searcherAt(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/p-*/_search" ||
					r.URL.Query().Get("allow_no_indices") != "true" || r.URL.Query().Get("ignore_unavailable") != "true" {
					t.Errorf("request %s %s", r.Method, r.URL)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				if b, _ := io.ReadAll(r.Body); !strings.Contains(string(b), `"user_id":"u1"`) {
					t.Errorf("body %s", b)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			page, err := s.Search(context.Background(), search.Query{Filters: search.Filters{UserID: "u1"}, Size: 2})
			if tt.wantErrIn == "" {
				if err != nil || len(page.Events) != 2 || page.Next == nil || page.Next.DocID != fmt.Sprintf("%032d", 1) {
					t.Fatalf("page %+v, %v; want 2 events and a cursor at the second", page, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErrIn) {
				t.Fatalf("error %v, want one naming %q", err, tt.wantErrIn)
			}
			if got := errors.Is(err, search.ErrStoreUnavailable); got != tt.unavailable {
				t.Fatalf("errors.Is(%v, ErrStoreUnavailable) = %v, want %v", err, got, tt.unavailable)
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		c, err := opensearchx.NewClient(opensearchx.Options{URL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewSearcher(c, "p").Search(context.Background(), search.Query{Size: 2})
		if !errors.Is(err, search.ErrStoreUnavailable) {
			t.Fatalf("error %v, want ErrStoreUnavailable", err)
		}
	})
}

// BenchmarkSearch is a first page through the Searcher against a local
// server answering a page of 51 hits at once: the request, the answer's
// decoding and the page, without OpenSearch's own time.
func BenchmarkSearch(b *testing.B) {
	answer := pageAnswer(51)
	s := searcherAt(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	q := search.Query{Filters: search.Filters{Apps: []string{"app-a"}, UserID: "user-0012345"}, Size: 50}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		page, err := s.Search(ctx, q)
		if err != nil || len(page.Events) != 50 {
			b.Fatal(len(page.Events), err)
		}
	}
}

// TestSearchSentAgainWhileAShardStarts: an answer lacking only shards that
// have not started (a daily index just created) is asked again after each
// pause, and served once whole; one still lacking them after the last pause,
// or lacking a failed shard, is unavailable (a failed shard at once).
func TestSearchSentAgainWhileAShardStarts(t *testing.T) {
	t.Parallel()
	whole := string(pageAnswer(3))
	starting := strings.Replace(whole, `"timed_out":false,`, `"timed_out":false,"_shards":{"total":2,"successful":1,"skipped":0,"failed":0},`, 1)
	failed := strings.Replace(whole, `"timed_out":false,`, `"timed_out":false,"_shards":{"total":2,"successful":1,"skipped":0,"failed":1},`, 1)
	tests := []struct {
		name     string
		answers  []string // by request; the last repeats
		wantSent int
		wantErr  bool
	}{
		{"whole at once", []string{whole}, 1, false},
		{"whole on the third", []string{starting, starting, whole}, 3, false},
		{"never whole", []string{starting}, 4, true},
		{"a failed shard", []string{failed}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sent atomic.Int32
			s := searcherAt(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(sent.Add(1))
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.answers[min(n, len(tt.answers))-1])
			}))
			page, err := s.Search(context.Background(), search.Query{Filters: search.Filters{UserID: "u1"}, Size: 2})
			if int(sent.Load()) != tt.wantSent || (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, search.ErrStoreUnavailable)) {
				t.Fatalf("%d searches sent, %v; want %d, error %v", sent.Load(), err, tt.wantSent, tt.wantErr)
			}
			if err == nil && len(page.Events) != 2 {
				t.Fatalf("page of %d events", len(page.Events))
			}
		})
	}
}

// TestStatsWithTooManyBuckets: OpenSearch answers a histogram over more
// buckets than search.max_buckets with a 503 (the body below is the node's
// own, for 66,000 one-minute buckets), which no retry mends: it is
// search.ErrTooManyBuckets, not unavailable.
func TestStatsWithTooManyBuckets(t *testing.T) {
	t.Parallel()
	s := searcherAt(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"root_cause":[],"type":"search_phase_execution_exception","reason":"","phase":"fetch","grouped":true,"failed_shards":[],"caused_by":{"type":"too_many_buckets_exception","reason":"Trying to create too many buckets. Must be less than or equal to: [65535] but was [66000]. This limit can be set by changing the [search.max_buckets] cluster level setting.","max_buckets":65535}},"status":503}`)
	}))
	_, err := s.Stats(context.Background(), search.Filters{UserID: "u1"}, "1m", 10)
	if !errors.Is(err, search.ErrTooManyBuckets) {
		t.Fatalf("err = %v, want search.ErrTooManyBuckets", err)
	}
}
