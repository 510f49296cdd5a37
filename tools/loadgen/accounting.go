package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/platform/opensearchx"
)

// Accounting is the end-to-end result of a run, by distinct event ids: what
// was answered 202 against what OpenSearch holds. Totals cannot stand in for
// it — one lost event and one duplicate add up to the right total.
type Accounting struct {
	// AcceptedEvents is the number of distinct event ids answered 202.
	AcceptedEvents int64 `json:"accepted_events"`
	// IndexedEvents is how many of those have a document.
	IndexedEvents int64 `json:"indexed_events"`
	// Lost is the number of accepted event ids without a document.
	Lost int64 `json:"lost"`
	// Duplicated is the number of documents beyond one per (app_id, event_id).
	Duplicated int64 `json:"duplicated"`
	// Documents is every document of the run in the index pattern.
	Documents int64 `json:"documents"`
	// Unaccepted is the number of distinct event ids with a document that
	// were never answered 202 (a response lost to a timeout or a closed
	// connection, a 503 after the publish). Neither lost nor duplicated.
	Unaccepted int64 `json:"indexed_not_accepted"`
}

// String is the accounting line the tools and tests print.
func (a Accounting) String() string {
	return fmt.Sprintf("accepted %d, indexed %d, lost %d, duplicated %d", a.AcceptedEvents, a.IndexedEvents, a.Lost, a.Duplicated)
}

// ExactlyOnce reports whether something was accepted and every accepted
// event id has exactly one document.
func (a Accounting) ExactlyOnce() bool {
	return a.AcceptedEvents > 0 && a.Lost == 0 && a.Duplicated == 0 && a.IndexedEvents == a.AcceptedEvents
}

// idSet is a set of event numbers (see IDs), one bit each: ten million
// events take 1.25 MB.
type idSet struct{ words []uint64 }

func (s *idSet) add(n uint64) {
	w := int(n >> 6)
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
	}
	s.words[w] |= 1 << (n & 63)
}

func (s *idSet) has(n uint64) bool {
	w := int(n >> 6)
	return w < len(s.words) && s.words[w]&(1<<(n&63)) != 0
}

func (s *idSet) count() int64 {
	var c int
	for _, w := range s.words {
		c += bits.OnesCount64(w)
	}
	return int64(c)
}

// andNotCount is |s \ o|.
func (s *idSet) andNotCount(o *idSet) int64 {
	var c int
	for i, w := range s.words {
		if i < len(o.words) {
			w &^= o.words[i]
		}
		c += bits.OnesCount64(w)
	}
	return int64(c)
}

// tally compares the indexed documents of a run, one (app_id, event_id) at
// a time, with the event ids answered 202.
type tally struct {
	ids      *IDs
	accepted *idSet
	indexed  idSet
	docs     int64
	dups     int64
	foreign  int64 // distinct ids under the run's prefix that IDs never gave out
}

// add counts one (app_id, event_id) of the run and its number of documents.
func (t *tally) add(eventID string, docs int64) {
	t.docs += docs
	t.dups += max(docs-1, 0)
	if n, ok := t.ids.Number(eventID); ok {
		t.indexed.add(n)
	} else {
		t.foreign++
	}
}

func (t *tally) result() Accounting {
	a := Accounting{AcceptedEvents: t.accepted.count(), Documents: t.docs, Duplicated: t.dups}
	a.Lost = t.accepted.andNotCount(&t.indexed)
	a.IndexedEvents = a.AcceptedEvents - a.Lost
	a.Unaccepted = t.indexed.andNotCount(t.accepted) + t.foreign
	return a
}

// requestTimeout bounds one request to OpenSearch.
const requestTimeout = 30 * time.Second

// ScanEventIDs calls fn once for every (app_id, event_id) that has documents
// in the indices matching pattern, with its number of documents, for the
// event ids starting with prefix ("" for every one). It refreshes the
// indices first and pages through a composite aggregation, so memory stays
// at one page whatever the number of documents. Each request may take
// requestTimeout.
func ScanEventIDs(ctx context.Context, c *opensearch.Client, pattern, prefix string, fn func(appID, eventID string, docs int64)) error {
	const opts = "?allow_no_indices=true&ignore_unavailable=true"
	if err := doJSON(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: "/" + pattern + "/_refresh" + opts}, nil); err != nil {
		return fmt.Errorf("refresh %s: %w", pattern, err)
	}
	query := map[string]any{"match_all": map[string]any{}}
	if prefix != "" {
		query = map[string]any{"prefix": map[string]any{"event_id": prefix}}
	}
	var after map[string]any
	for {
		composite := map[string]any{"size": 10000, "sources": []any{
			map[string]any{"event_id": map[string]any{"terms": map[string]any{"field": "event_id"}}},
			map[string]any{"app_id": map[string]any{"terms": map[string]any{"field": "app_id"}}},
		}}
		if after != nil {
			composite["after"] = after
		}
		body, _ := json.Marshal(map[string]any{"size": 0, "query": query,
			"aggs": map[string]any{"ids": map[string]any{"composite": composite}}})
		var out struct {
			Aggregations struct {
				IDs struct {
					AfterKey map[string]any `json:"after_key"`
					Buckets  []struct {
						Key struct {
							EventID string `json:"event_id"`
							AppID   string `json:"app_id"`
						} `json:"key"`
						DocCount int64 `json:"doc_count"`
					} `json:"buckets"`
				} `json:"ids"`
			} `json:"aggregations"`
		}
		if err := doJSON(ctx, c, opensearchx.Request{Method: http.MethodPost, Path: "/" + pattern + "/_search" + opts, Body: body}, &out); err != nil {
			return fmt.Errorf("scan event ids of %s: %w", pattern, err)
		}
		for _, bk := range out.Aggregations.IDs.Buckets {
			fn(bk.Key.AppID, bk.Key.EventID, bk.DocCount)
		}
		if len(out.Aggregations.IDs.Buckets) == 0 || out.Aggregations.IDs.AfterKey == nil {
			return nil
		}
		after = out.Aggregations.IDs.AfterKey
	}
}

// doJSON is opensearchx.DoJSON bounded by requestTimeout.
func doJSON(ctx context.Context, c *opensearch.Client, r opensearchx.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return opensearchx.DoJSON(ctx, c, r, out)
}

// Number parses an id rendered by EventID back to its event number; false
// for an id IDs did not give out.
func (ids *IDs) Number(eventID string) (uint64, bool) {
	rest, ok := strings.CutPrefix(eventID, ids.prefix+idSep)
	if !ok || len(eventID) != idWidth {
		return 0, false
	}
	rest = strings.TrimRight(rest, "-")
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || ids.EventID(n) != eventID {
		return 0, false
	}
	return n, true
}
