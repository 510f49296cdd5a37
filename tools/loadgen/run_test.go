package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestRunRetriesLikeTheSDK: with RetryFor, a request answered 503 is sent
// again unchanged after its Retry-After, and one an endpoint does not
// answer goes to the next endpoint; every batch ends up accepted once its
// body (the same event ids) got a 202.
func TestRunRetriesLikeTheSDK(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // body → sends
	accepted := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		seen[string(b)]++
		if seen[string(b)] == 1 { // every batch is refused once
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		accepted++
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":2,"rejected":0,"duplicates":0,"errors":[]}`))
	}))
	defer up.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	var okCalls int
	cfg := Config{URLs: []string{down.URL + "/v1/track", up.URL + "/v1/track"}, WriteKey: "k", Concurrency: 2, Rate: 20,
		Duration: 500 * time.Millisecond, Templates: 2, Traffic: Traffic{BatchSize: 2, Users: 5}, Timeout: time.Second,
		RetryFor: 5 * time.Second, RetryDelay: 10 * time.Millisecond,
		OnAccepted: func(Accepted) { mu.Lock(); okCalls++; mu.Unlock() }}
	res, err := Run(context.Background(), cfg, NewIDs("r"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Requests == 0 || res.GaveUp != 0 || res.Statuses["202"] != int(res.Requests) {
		t.Fatalf("want every request accepted in the end: %+v", res)
	}
	if okCalls != accepted || len(seen) != accepted {
		t.Fatalf("%d batches, %d accepted, %d reported accepted: a retry changed its body or was counted twice", len(seen), accepted, okCalls)
	}
	if res.RetryAfter["0"] != accepted || res.Statuses["resent-after-503"] != accepted || res.Statuses["resent-after-no-answer"] == 0 {
		t.Fatalf("want one 503 retry per batch and retries after no answer: %+v", res)
	}
}

// TestBackground: Wait returns what the run returned; Stop ends a run
// early and may be called after Wait.
func TestBackground(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":10}`))
	}))
	defer srv.Close()
	cfg := Config{URL: srv.URL, WriteKey: "k", Concurrency: 1, Rate: 50, Duration: 200 * time.Millisecond,
		Templates: 1, Traffic: Traffic{BatchSize: 10, Users: 1}, Timeout: time.Second}
	b := Start(context.Background(), cfg, NewIDs("bg"))
	res, err := b.Wait()
	if err != nil || res.Requests == 0 {
		t.Fatalf("Wait: %d requests, %v", res.Requests, err)
	}
	b.Stop()

	cfg.Duration = time.Hour
	b = Start(context.Background(), cfg, NewIDs("bg2"))
	stopped := make(chan struct{})
	go func() { b.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end an hour-long run")
	}
}
