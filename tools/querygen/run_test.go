package querygen

import (
	"context"
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
	if _, err := Run(context.Background(), Config{Query: "everything", Users: 1, Concurrency: 1}); err == nil {
		t.Fatal("an unknown query kind ran")
	}
}
