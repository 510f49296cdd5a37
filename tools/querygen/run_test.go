package querygen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var unauthorized, wrongPath atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			unauthorized.Add(1)
		}
		if !strings.HasPrefix(r.URL.Path, "/v1/users/user-") || !strings.HasSuffix(r.URL.Path, "/events") {
			wrongPath.Add(1)
		}
		if strings.HasSuffix(r.URL.Path, "user-0/events") {
			w.Write([]byte(`{"events":[]}`)) // short: an empty page
			return
		}
		w.Write([]byte(`{"events":[{"event_id":"e1"}],"next_page_token":""}`))
	}))
	defer srv.Close()
	tests := []struct {
		name     string
		rate     float64
		wantMode string
	}{
		{"open loop", 200, "open-loop"},
		{"closed loop", 0, "closed-loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{BaseURL: srv.URL, Token: "tok", Users: 2, Rate: tt.rate, Concurrency: 4,
				Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tt.wantMode || res.Requests == 0 || res.Statuses["200"] != int(res.Requests) || res.TransportErrs != 0 {
				t.Fatalf("result %+v", res)
			}
			if res.EmptyResults == 0 || res.EmptyResults == res.Requests {
				t.Fatalf("empty results %d of %d: want some (user-0) and not all", res.EmptyResults, res.Requests)
			}
			if tt.rate > 0 && (res.RequestsPerSec < tt.rate*0.8 || res.RequestsPerSec > tt.rate*1.2) {
				t.Fatalf("%.0f queries/s at a rate of %.0f", res.RequestsPerSec, tt.rate)
			}
			if res.LatencyMs.P50 <= 0 || res.LatencyMs.Max < res.LatencyMs.P99 {
				t.Fatalf("latency %+v", res.LatencyMs)
			}
		})
	}
	if unauthorized.Load() != 0 || wrongPath.Load() != 0 {
		t.Fatalf("%d queries without the token, %d to a wrong path", unauthorized.Load(), wrongPath.Load())
	}
	for _, cfg := range []Config{
		{Query: "everything", Users: 1, Concurrency: 1},
		{Target: "elsewhere", Users: 1, Concurrency: 1},
		{Target: TargetOpenSearch, Query: "summary", Prefix: "events", Users: 1, Concurrency: 1},
		{Target: TargetOpenSearch, Users: 1, Concurrency: 1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Fatalf("%+v ran", cfg)
		}
	}
}

// TestRunOpenSearch checks the raw target: the service's own search body
// for a random user's first page, posted to the indices' _search.
func TestRunOpenSearch(t *testing.T) {
	var wrong atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Size  int `json:"size"`
			Query struct {
				Bool struct {
					Filter []map[string]map[string]string `json:"filter"`
				} `json:"bool"`
			} `json:"query"`
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		if err != nil || r.Method != http.MethodPost || r.URL.Path != "/bench-*/_search" || r.Header.Get("Content-Type") != "application/json" ||
			body.Size != 51 || len(body.Query.Bool.Filter) != 1 || !strings.HasPrefix(body.Query.Bool.Filter[0]["term"]["user_id"], "user-") {
			wrong.Add(1)
		}
		if body.Query.Bool.Filter[0]["term"]["user_id"] == "user-0" {
			w.Write([]byte(`{"hits":{"hits":[]}}`))
			return
		}
		w.Write([]byte(`{"hits":{"hits":[{"_source":{}}]}}`))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{Target: TargetOpenSearch, BaseURL: srv.URL, Prefix: "bench", Users: 2, Rate: 200, Concurrency: 4,
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != TargetOpenSearch || res.Requests == 0 || res.Statuses["200"] != int(res.Requests) || wrong.Load() != 0 {
		t.Fatalf("result %+v, %d requests not the service's first-page search", res, wrong.Load())
	}
	if res.EmptyResults == 0 || res.EmptyResults == res.Requests {
		t.Fatalf("empty results %d of %d: want some (user-0) and not all", res.EmptyResults, res.Requests)
	}
}

// TestCompare checks that one load is shared by two targets in turn: each
// gets its own requests (the service's path with the token, the raw search
// without it) and half the rate, and each is measured on its own.
func TestCompare(t *testing.T) {
	var service, raw, misrouted atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok" || !strings.HasPrefix(r.URL.Path, "/v1/users/") {
			misrouted.Add(1)
		}
		w.Write([]byte(`{"events":[{"event_id":"e1"}],"next_page_token":""}`))
	}))
	defer svc.Close()
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw.Add(1)
		if r.Header.Get("Authorization") != "" || r.URL.Path != "/bench-*/_search" {
			misrouted.Add(1)
		}
		w.Write([]byte(`{"hits":{"hits":[{"_source":{}}]}}`))
	}))
	defer store.Close()
	const rate, concurrency = 400, 4
	a, b, err := Compare(context.Background(),
		Config{BaseURL: svc.URL, Token: "tok", Users: 3, Rate: rate, Concurrency: concurrency, Duration: 500 * time.Millisecond, Timeout: time.Second},
		Config{Target: TargetOpenSearch, BaseURL: store.URL, Prefix: "bench"})
	if err != nil {
		t.Fatal(err)
	}
	if misrouted.Load() != 0 {
		t.Fatalf("%d requests sent to the wrong target", misrouted.Load())
	}
	if a.Target != TargetQuery || b.Target != TargetOpenSearch || a.TargetRate != rate/2 || b.TargetRate != rate/2 {
		t.Fatalf("sides %s at %.0f/s and %s at %.0f/s, want query and opensearch at %d/s each", a.Target, a.TargetRate, b.Target, b.TargetRate, rate/2)
	}
	for _, res := range []Result{a, b} {
		if res.Requests == 0 || res.Statuses["200"] != int(res.Requests) || res.LatencyMs.P50 <= 0 {
			t.Fatalf("side %s: %+v", res.Target, res)
		}
	}
	// Each worker alternates: the sides' counts differ by a query a worker at most.
	if d := a.Requests - b.Requests; d > concurrency || d < -concurrency {
		t.Fatalf("%d queries to the service, %d to OpenSearch: not in turn", a.Requests, b.Requests)
	}
}
