package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/tools/latency"
)

// Searchable watches OpenSearch for the events a run had accepted: how long
// after its 202 each batch became searchable, and at the end, id by id,
// whether every accepted event is there exactly once (see Accounting).
type Searchable struct {
	URL     string // OpenSearch
	Pattern string // index pattern, e.g. telemetry-events-*
	IDs     *IDs
	client  *opensearch.Client
	err     error // making the client

	mu       sync.Mutex
	pending  map[uint64]time.Time // first valid event number of an accepted batch → 202 time
	accepted idSet                // every event number answered 202
	hist     *hdrhistogram.Histogram
}

// NewSearchable returns a watcher.
func NewSearchable(url, pattern string, ids *IDs) *Searchable {
	c, err := opensearchx.NewClient(opensearchx.Options{URL: url})
	return &Searchable{URL: url, Pattern: pattern, IDs: ids, client: c, err: err,
		pending: map[uint64]time.Time{}, hist: hdrhistogram.New(1, int64(10*time.Minute/time.Millisecond), 3)}
}

// Accepted registers a batch answered 202.
func (s *Searchable) Accepted(a Accepted) {
	s.mu.Lock()
	defer s.mu.Unlock()
	probe := -1
	for i, inv := 0, 0; i < a.Events; i++ {
		if inv < len(a.Invalid) && a.Invalid[inv] == i {
			inv++
			continue
		}
		s.accepted.add(a.FirstID + uint64(i))
		if probe < 0 {
			probe = i
		}
	}
	if probe >= 0 {
		s.pending[a.FirstID+uint64(probe)] = a.At
	}
}

// AcceptedEvents is the number of distinct events answered 202 so far.
func (s *Searchable) AcceptedEvents() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted.count()
}

// Watch polls until ctx ends, then keeps polling for up to grace until every
// accepted batch has been seen.
func (s *Searchable) Watch(ctx context.Context, grace time.Duration) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	done := ctx.Done()
	var end time.Time
	for {
		select {
		case <-t.C:
		case <-done:
			end, done = time.Now().Add(grace), nil
		}
		s.poll()
		if !end.IsZero() && (s.left() == 0 || time.Now().After(end)) {
			return
		}
	}
}

func (s *Searchable) left() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// poll asks which pending batches have become searchable. It runs after
// Watch's context ended too (the grace), so its requests are bounded by
// requestTimeout alone.
func (s *Searchable) poll() {
	s.mu.Lock()
	ids := make([]string, 0, min(len(s.pending), 1000))
	for n := range s.pending {
		if len(ids) == cap(ids) {
			break
		}
		ids = append(ids, s.IDs.EventID(n))
	}
	s.mu.Unlock()
	if len(ids) == 0 || s.client == nil {
		return
	}
	body, _ := json.Marshal(map[string]any{"size": len(ids), "_source": []string{"event_id"},
		"query": map[string]any{"terms": map[string]any{"event_id": ids}}})
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					EventID string `json:"event_id"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	// An error answer (an index whose shards have not started yet) or none
	// at all is "nothing seen yet": the next poll asks again.
	path := "/" + s.Pattern + "/_search?allow_no_indices=true&ignore_unavailable=true"
	if doJSON(context.Background(), s.client, opensearchx.Request{Method: http.MethodPost, Path: path, Body: body}, &out) != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range out.Hits.Hits {
		n, ok := s.IDs.Number(h.Source.EventID)
		if !ok {
			continue
		}
		if at, ok := s.pending[n]; ok {
			_ = s.hist.RecordValue(max(now.Sub(at).Milliseconds(), 1))
			delete(s.pending, n)
		}
	}
}

// SearchableResult is the end-to-end result: time to searchable per batch
// and the accounting by distinct ids.
type SearchableResult struct {
	Batches          int64               `json:"batches_seen"`
	NeverSeen        int                 `json:"batches_never_searchable"`
	TimeToSearchable latency.Percentiles `json:"time_to_searchable_ms"`
	Accounting
}

// Result scans every document of the run in the index pattern (event ids
// under the run's prefix) and accounts for them against the accepted ids.
func (s *Searchable) Result(ctx context.Context) (SearchableResult, error) {
	s.mu.Lock()
	r := SearchableResult{Batches: s.hist.TotalCount(), NeverSeen: len(s.pending)}
	r.TimeToSearchable = latency.FromHistogram(s.hist, time.Millisecond)
	accepted := idSet{words: append([]uint64(nil), s.accepted.words...)}
	s.mu.Unlock()
	if s.err != nil {
		return r, fmt.Errorf("account for run %s: %w", s.IDs.prefix, s.err)
	}
	t := &tally{ids: s.IDs, accepted: &accepted}
	err := ScanEventIDs(ctx, s.client, s.Pattern, s.IDs.prefix+idSep, func(_, eventID string, docs int64) {
		t.add(eventID, docs)
	})
	if err != nil {
		return r, fmt.Errorf("account for run %s: %w", s.IDs.prefix, err)
	}
	r.Accounting = t.result()
	return r, nil
}

// Settled is Result once the indices have settled: it scans until two
// scans in a row (settleInterval apart) agree, and fails if they still
// disagree at deadline. Call it once nothing more can arrive (the consumer
// drained), so that documents a refresh had not yet made searchable are
// counted too.
func (s *Searchable) Settled(ctx context.Context, deadline time.Time) (SearchableResult, error) {
	var r SearchableResult
	for prev := (Accounting{AcceptedEvents: -1}); ; prev = r.Accounting {
		var err error
		if r, err = s.Result(ctx); err != nil {
			return r, err
		}
		if r.Accounting == prev {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("the indices did not settle: %s, then %s", prev, r.Accounting)
		}
		if !sleepCtx(ctx, settleInterval) {
			return r, ctx.Err()
		}
	}
}

// settleInterval is the time between Settled's scans.
const settleInterval = 200 * time.Millisecond

// RunEndToEnd is Run with a Searchable watching the index pattern at osURL
// for the accepted events (only valid events are sent, so each one can be
// accounted for): after the load it waits up to grace for stragglers, then
// accounts for every 202, warm-up included.
func RunEndToEnd(ctx context.Context, cfg Config, ids *IDs, osURL, pattern string, grace time.Duration) (Result, SearchableResult, error) {
	cfg.Traffic.InvalidRate = 0
	watcher := NewSearchable(osURL, pattern, ids)
	cfg.OnAccepted = watcher.Accepted
	loadCtx, loadDone := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { watcher.Watch(loadCtx, grace); close(watched) }()
	res, err := Run(ctx, cfg, ids)
	loadDone()
	<-watched
	if err != nil {
		return res, SearchableResult{}, err
	}
	e2e, err := watcher.Result(ctx)
	if err != nil {
		return res, e2e, err
	}
	return res, e2e, nil
}

// Report is a run as loadgen -json writes it.
type Report struct {
	Result
	EndToEnd *SearchableResult `json:"end_to_end,omitempty"`
}
