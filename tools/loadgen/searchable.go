package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Searchable watches OpenSearch for the events a run had accepted: how long
// after its 202 each batch became searchable, and at the end whether every
// accepted event is there exactly once.
type Searchable struct {
	URL     string // OpenSearch
	Pattern string // index pattern, e.g. telemetry-events-*
	IDs     *IDs
	client  *http.Client

	mu       sync.Mutex
	pending  map[string]time.Time // first event id of an accepted batch → 202 time
	accepted int64
	hist     *hdrhistogram.Histogram
}

// NewSearchable returns a watcher.
func NewSearchable(url, pattern string, ids *IDs) *Searchable {
	return &Searchable{URL: url, Pattern: pattern, IDs: ids, client: &http.Client{Timeout: 10 * time.Second},
		pending: map[string]time.Time{}, hist: hdrhistogram.New(1, int64(10*time.Minute/time.Millisecond), 3)}
}

// Accepted registers a batch answered 202.
func (s *Searchable) Accepted(a Accepted) {
	s.mu.Lock()
	s.pending[s.IDs.EventID(a.FirstID)] = a.At
	s.accepted += int64(a.Accepted)
	s.mu.Unlock()
}

// AcceptedEvents is the number of events answered 202 so far.
func (s *Searchable) AcceptedEvents() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Watch polls until ctx ends, then keeps polling for up to grace for what
// is still missing.
func (s *Searchable) Watch(ctx context.Context, grace time.Duration) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var end time.Time
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			if end.IsZero() {
				end = time.Now().Add(grace)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.poll()
		s.mu.Lock()
		left := len(s.pending)
		s.mu.Unlock()
		if !end.IsZero() && (left == 0 || time.Now().After(end)) {
			return
		}
	}
}

func (s *Searchable) poll() {
	s.mu.Lock()
	ids := make([]string, 0, min(len(s.pending), 1000))
	for id := range s.pending {
		if len(ids) == cap(ids) {
			break
		}
		ids = append(ids, id)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	body, _ := json.Marshal(map[string]any{"size": len(ids), "_source": []string{"event_id"},
		"query": map[string]any{"terms": map[string]any{"event_id": ids}}})
	res, err := s.client.Post(s.URL+"/"+s.Pattern+"/_search?allow_no_indices=true&ignore_unavailable=true", "application/json", bytes.NewReader(body))
	if err != nil {
		return
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					EventID string `json:"event_id"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if json.NewDecoder(res.Body).Decode(&out) != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range out.Hits.Hits {
		if at, ok := s.pending[h.Source.EventID]; ok {
			_ = s.hist.RecordValue(max(now.Sub(at).Milliseconds(), 1))
			delete(s.pending, h.Source.EventID)
		}
	}
}

// SearchableResult is the end-to-end accounting.
type SearchableResult struct {
	Batches          int64       `json:"batches_seen"`
	NeverSeen        int         `json:"batches_never_searchable"`
	TimeToSearchable Percentiles `json:"time_to_searchable_ms"`
	AcceptedEvents   int64       `json:"accepted_events"`
	IndexedEvents    int64       `json:"indexed_events"`
	DistinctIndexed  int64       `json:"distinct_indexed_events"`
	Lost             int64       `json:"lost"`
	Duplicated       int64       `json:"duplicated"`
}

// Result counts the run's events in OpenSearch: documents whose event_id
// starts with the run id, in total and distinct.
func (s *Searchable) Result(acceptedEvents int64) (SearchableResult, error) {
	s.mu.Lock()
	r := SearchableResult{Batches: s.hist.TotalCount(), NeverSeen: len(s.pending), AcceptedEvents: acceptedEvents}
	h := s.hist
	r.TimeToSearchable = Percentiles{P50: float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)),
		P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max())}
	s.mu.Unlock()
	if res, err := s.client.Post(s.URL+"/"+s.Pattern+"/_refresh?allow_no_indices=true&ignore_unavailable=true", "application/json", nil); err == nil {
		res.Body.Close()
	}
	body, _ := json.Marshal(map[string]any{"size": 0, "track_total_hits": true,
		"query": map[string]any{"prefix": map[string]any{"event_id": s.IDs.prefix}},
		"aggs":  map[string]any{"distinct": map[string]any{"cardinality": map[string]any{"field": "event_id", "precision_threshold": 40000}}}})
	res, err := s.client.Post(s.URL+"/"+s.Pattern+"/_search?allow_no_indices=true&ignore_unavailable=true", "application/json", bytes.NewReader(body))
	if err != nil {
		return r, fmt.Errorf("count indexed events: %w", err)
	}
	defer res.Body.Close()
	var out struct {
		Hits struct {
			Total struct {
				Value int64 `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggregations struct {
			Distinct struct {
				Value int64 `json:"value"`
			} `json:"distinct"`
		} `json:"aggregations"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return r, fmt.Errorf("count indexed events: %w", err)
	}
	r.IndexedEvents = out.Hits.Total.Value
	r.DistinctIndexed = out.Aggregations.Distinct.Value
	r.Lost = max(acceptedEvents-r.IndexedEvents, 0)
	r.Duplicated = max(r.IndexedEvents-acceptedEvents, 0)
	return r, nil
}
