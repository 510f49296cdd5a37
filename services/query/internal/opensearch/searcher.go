// Package opensearch is the query service's event store: it turns queries
// into OpenSearch requests built from typed values (never from strings a
// caller sent) and maps hits and aggregations to the API's messages.
package opensearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Searcher reads the daily event indices of one prefix.
type Searcher struct {
	client     *opensearch.Client
	pattern    string
	searchPath string // the pattern's _search, missing indices no error
	pseudonyms *Pseudonyms
	parsers    fastjson.ParserPool // for the answers, see decodeResponse
	// startWaits are the pauses before a search is sent again because some
	// shard had not started yet (see run).
	startWaits []time.Duration
	// answers holds buffers (*[]byte) an answer is read into: a first page
	// is ~60 KB, which reading into a new buffer grew copy by copy, a third
	// of the service's allocations a query. Nothing decoded keeps a
	// reference into it (decodeResponse copies what it keeps).
	answers sync.Pool
}

// maxPooledAnswer is the largest answer buffer kept for the next search.
const maxPooledAnswer = 1 << 20

// NewSearcher returns a store over the indices prefix-*.
func NewSearcher(client *opensearch.Client, prefix string) *Searcher {
	return &Searcher{client: client, pattern: eventdoc.Pattern(prefix), searchPath: SearchPath(prefix),
		startWaits: shardStartWaits, answers: sync.Pool{New: func() any { return new([]byte) }}}
}

// SearchPath is the path the searches of the indices prefix-* are sent to:
// the pattern's _search, a missing index no error.
func SearchPath(prefix string) string {
	return "/" + eventdoc.Pattern(prefix) + "/_search?allow_no_indices=true&ignore_unavailable=true"
}

// Pseudonyms are the document fields enrich stores as pseudonyms
// (ENRICH_PSEUDONYMISE_FIELDS) and the keys it used.
type Pseudonyms struct {
	Fields []string
	Ring   pseudonym.Ring
}

// WithPseudonyms makes a filter on one of p.Fields match the events of the
// value searched for under its pseudonym too (current and previous keys),
// as well as under the value itself (events indexed before
// pseudonymisation was switched on, or a pseudonym copied from a result).
func (s *Searcher) WithPseudonyms(p Pseudonyms) *Searcher {
	if len(p.Fields) > 0 {
		s.pseudonyms = &p
	}
	return s
}

// values returns what the clause c may match in the documents: its values,
// and for a pseudonymised field their pseudonyms too (nil: c.Value alone).
func (p *Pseudonyms) values(c search.Clause) []string {
	if p == nil || !slices.ContainsFunc(c.Fields, func(f string) bool { return slices.Contains(p.Fields, f) }) {
		return c.Values
	}
	if c.Values == nil {
		return p.Ring.Candidates(c.Value)
	}
	out := make([]string, 0, len(c.Values)*(2+len(p.Ring.Previous)))
	for _, v := range c.Values {
		out = append(out, p.Ring.Candidates(v)...)
	}
	return out
}

type m = map[string]any

// queryFor builds the bool query of f: one clause per filter that is set
// (search.Filters.Clauses), filled with its typed values (and, for a
// pseudonymised field, their pseudonyms).
func queryFor(f search.Filters, p *Pseudonyms) m {
	filters := []any{}
	b := m{}
	var buf [16]search.Clause // on the stack while the table has at most 16 filters
	for _, c := range f.AppendClauses(buf[:0]) {
		switch c.Match {
		case search.MatchKeyword:
			if values := p.values(c); values != nil {
				filters = append(filters, anyField("terms", c.Fields, values))
			} else {
				filters = append(filters, anyField("term", c.Fields, c.Value))
			}
		case search.MatchTimeRange:
			// Stored times are whole milliseconds: a bound between two is
			// rounded up, so that from stays inclusive and to exclusive.
			r := m{"format": "epoch_millis"}
			if c.From != nil {
				r["gte"] = ceilMilli(*c.From)
			}
			if c.To != nil {
				r["lt"] = ceilMilli(*c.To)
			}
			filters = append(filters, anyField("range", c.Fields, r))
		case search.MatchBool:
			filters = append(filters, anyField("term", c.Fields, c.Bool))
		case search.MatchFullText:
			// simple_query_string never fails on syntax and is given a
			// fixed set of operators; the text is a value, not DSL.
			must, _ := b["must"].([]any)
			b["must"] = append(must, m{"simple_query_string": m{
				"query": c.Value, "fields": c.Fields, "default_operator": "and",
				"flags": "AND|OR|NOT|PHRASE|PRECEDENCE|WHITESPACE|ESCAPE", "lenient": true,
			}})
		}
	}
	b["filter"] = filters
	return m{"bool": b}
}

// anyField is the query {op: {field: value}} on the one field, or a bool
// query matching when it matches on any of the fields.
func anyField(op string, fields []string, value any) m {
	if len(fields) == 1 {
		return m{op: m{fields[0]: value}}
	}
	should := make([]any, len(fields))
	for i, f := range fields {
		should[i] = m{op: m{f: value}}
	}
	return m{"bool": m{"should": should, "minimum_should_match": 1}}
}

// Body builds the search request body for q. It asks for one hit more than
// the page, to know whether another page follows.
func Body(q search.Query) ([]byte, error) { return body(q, nil) }

func body(q search.Query, p *Pseudonyms) ([]byte, error) {
	body := m{
		"size":             q.Size + 1,
		"track_total_hits": false,
		"query":            queryFor(q.Filters, p),
		"sort": []any{
			m{"timestamp": m{"order": "desc"}},
			m{"doc_id": m{"order": "desc"}},
		},
	}
	if q.After != nil {
		body["search_after"] = []any{q.After.TimestampMillis, q.After.DocID}
	}
	return json.Marshal(body)
}

type hit struct {
	Source eventdoc.Source   `json:"_source"`
	Sort   []json.RawMessage `json:"sort"`
}

type searchResponse struct {
	TimedOut bool               `json:"timed_out"`
	Shards   opensearchx.Shards `json:"_shards"`
	Hits     struct {
		Total struct {
			Value int64 `json:"value"`
		} `json:"total"`
		Hits []hit `json:"hits"`
	} `json:"hits"`
	Aggregations json.RawMessage `json:"aggregations"`
}

// run sends a search body and decodes the answer. An answer saying the
// cluster cannot serve now (429, 5xx), no answer, a search whose context
// ended before the answer, or an answer from only some of the shards (a
// daily index whose shard has not started, a primary lost with its node:
// OpenSearch answers 200 with the other shards' hits) is
// search.ErrStoreUnavailable: a page missing a shard's hits would be served
// as whole, and its page token would skip them for good. When the shards
// missing had only not started (none failed), the search is sent again
// after each of s.startWaits first: enrich creates a daily index as the
// first event of a day arrives, and its primary starts within moments.
func (s *Searcher) run(ctx context.Context, body []byte) (*searchResponse, error) {
	for i := 0; ; i++ {
		sr, starting, err := s.runOnce(ctx, body)
		if !starting || i == len(s.startWaits) {
			return sr, err
		}
		t := time.NewTimer(s.startWaits[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("search %s: %w: %w", s.pattern, search.ErrStoreUnavailable, ctx.Err())
		case <-t.C:
		}
	}
}

// shardStartWaits: a search that found a shard not yet started is sent
// again after 100 ms, then 300 ms, then 600 ms (1 s in all) before it is
// unavailable.
var shardStartWaits = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond}

// runOnce is one search of run; starting reports an answer that lacked only
// shards not yet started.
func (s *Searcher) runOnce(ctx context.Context, body []byte) (_ *searchResponse, starting bool, _ error) {
	bufp := s.answers.Get().(*[]byte)
	defer func() {
		if cap(*bufp) <= maxPooledAnswer {
			s.answers.Put(bufp)
		}
	}()
	answer, err := opensearchx.DoAppend(ctx, s.client, opensearchx.Request{Method: http.MethodPost, Path: s.searchPath, Body: body}, (*bufp)[:0])
	if answer != nil {
		*bufp = answer
	}
	switch {
	case err == nil:
	case errors.Is(err, opensearchx.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, false, fmt.Errorf("search %s: %w: %w", s.pattern, search.ErrStoreUnavailable, err)
	default:
		return nil, false, fmt.Errorf("search %s: %w", s.pattern, err)
	}
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	sr, err := decodeResponse(p, answer)
	if err != nil {
		return nil, false, fmt.Errorf("search %s: %w", s.pattern, err)
	}
	if err := sr.Shards.Partial(); err != nil {
		return nil, sr.Shards.Starting(), fmt.Errorf("search %s: %w: %w", s.pattern, search.ErrStoreUnavailable, err)
	}
	if sr.TimedOut {
		return nil, false, fmt.Errorf("search %s: %w: timed out", s.pattern, search.ErrStoreUnavailable)
	}
	return sr, false, nil
}

// Search runs q.
func (s *Searcher) Search(ctx context.Context, q search.Query) (search.Page, error) {
	body, err := body(q, s.pseudonyms)
	if err != nil {
		return search.Page{}, fmt.Errorf("build search: %w", err)
	}
	sr, err := s.run(ctx, body)
	if err != nil {
		return search.Page{}, err
	}
	hits := sr.Hits.Hits
	n := min(len(hits), q.Size)
	page := search.Page{Events: make([]*telemetryv1.StoredEvent, 0, n)}
	slab := newStoredSlab(n)
	for i := range hits {
		if i == q.Size {
			c, err := cursor(hits[i-1].Sort)
			if err != nil {
				return search.Page{}, err
			}
			page.Next = &c
			break
		}
		page.Events = append(page.Events, stored(&hits[i].Source, slab))
	}
	return page, nil
}

// FindEvent returns up to two events with eventID among f's apps.
func (s *Searcher) FindEvent(ctx context.Context, f search.Filters, eventID string) ([]*telemetryv1.StoredEvent, error) {
	q := queryFor(f, s.pseudonyms)
	q["bool"].(m)["filter"] = append(q["bool"].(m)["filter"].([]any), m{"term": m{"event_id": eventID}})
	body, _ := json.Marshal(m{"size": 2, "track_total_hits": false, "query": q})
	sr, err := s.run(ctx, body)
	if err != nil {
		return nil, err
	}
	out := make([]*telemetryv1.StoredEvent, 0, len(sr.Hits.Hits))
	for i := range sr.Hits.Hits {
		out = append(out, Stored(&sr.Hits.Hits[i].Source))
	}
	return out, nil
}

type bucket struct {
	Key         json.RawMessage `json:"key"`
	KeyAsString string          `json:"key_as_string"`
	DocCount    int64           `json:"doc_count"`
}

type terms struct {
	Buckets []bucket `json:"buckets"`
}

func topTerms(field string, size int) m {
	return m{"terms": m{"field": field, "size": size}}
}

func counts(t terms) []*queryv1.Count {
	out := make([]*queryv1.Count, 0, len(t.Buckets))
	for _, b := range t.Buckets {
		var v string
		if json.Unmarshal(b.Key, &v) != nil {
			v = string(b.Key)
		}
		out = append(out, &queryv1.Count{Value: v, Count: b.DocCount})
	}
	return out
}

// UserSummary aggregates one user's events.
func (s *Searcher) UserSummary(ctx context.Context, f search.Filters, top int) (*queryv1.GetUserSummaryResponse, error) {
	body, _ := json.Marshal(m{
		"size": 0, "track_total_hits": true, "query": queryFor(f, s.pseudonyms),
		"aggs": m{
			"first":     m{"min": m{"field": "timestamp"}},
			"last":      m{"max": m{"field": "timestamp"}},
			"sessions":  m{"cardinality": m{"field": "session_id", "precision_threshold": 40000}},
			"names":     topTerms("event_name", top),
			"devices":   topTerms("device_model", top),
			"os":        m{"multi_terms": m{"terms": []any{m{"field": "os_name"}, m{"field": "os_version"}}, "size": top}},
			"versions":  topTerms("app_version", top),
			"countries": topTerms("country", top),
			"apps":      topTerms("app_id", top),
		},
	})
	sr, err := s.run(ctx, body)
	if err != nil {
		return nil, err
	}
	var aggs struct {
		First, Last struct {
			Value *float64 `json:"value"`
		}
		Sessions struct {
			Value int64 `json:"value"`
		}
		Names, Devices, OS, Versions, Countries, Apps terms
	}
	if err := json.Unmarshal(sr.Aggregations, &aggs); err != nil {
		return nil, fmt.Errorf("decode summary: %w", err)
	}
	res := &queryv1.GetUserSummaryResponse{
		EventCount: sr.Hits.Total.Value, SessionCount: aggs.Sessions.Value,
		TopEventNames: counts(aggs.Names), Devices: counts(aggs.Devices), AppVersions: counts(aggs.Versions),
		Countries: counts(aggs.Countries), Apps: counts(aggs.Apps),
	}
	for _, b := range aggs.OS.Buckets {
		var parts []string
		_ = json.Unmarshal(b.Key, &parts)
		v := b.KeyAsString
		if len(parts) == 2 {
			v = strings.TrimSpace(parts[0] + " " + parts[1])
		}
		if v == "" {
			continue // events without any OS facts
		}
		res.OsVersions = append(res.OsVersions, &queryv1.Count{Value: v, Count: b.DocCount})
	}
	if aggs.First.Value != nil {
		res.FirstSeen = timestamppb.New(time.UnixMilli(int64(*aggs.First.Value)))
	}
	if aggs.Last.Value != nil {
		res.LastSeen = timestamppb.New(time.UnixMilli(int64(*aggs.Last.Value)))
	}
	return res, nil
}

// Stats counts f's events per interval and by name.
func (s *Searcher) Stats(ctx context.Context, f search.Filters, interval string, top int) (*queryv1.EventStatsResponse, error) {
	body, _ := json.Marshal(m{
		"size": 0, "track_total_hits": true, "query": queryFor(f, s.pseudonyms),
		"aggs": m{
			"over_time": m{"date_histogram": m{"field": "timestamp", "fixed_interval": interval, "min_doc_count": 1}},
			"names":     topTerms("event_name", top),
		},
	})
	sr, err := s.run(ctx, body)
	if se := (*opensearchx.StatusError)(nil); errors.As(err, &se) && strings.Contains(se.Body, `"too_many_buckets_exception"`) {
		// A 503 that no retry mends: the histogram has more buckets than
		// search.max_buckets.
		return nil, fmt.Errorf("stats %s: %w: %w", s.pattern, search.ErrTooManyBuckets, err)
	}
	if err != nil {
		return nil, err
	}
	var aggs struct {
		OverTime terms `json:"over_time"`
		Names    terms `json:"names"`
	}
	if err := json.Unmarshal(sr.Aggregations, &aggs); err != nil {
		return nil, fmt.Errorf("decode stats: %w", err)
	}
	res := &queryv1.EventStatsResponse{Total: sr.Hits.Total.Value, TopEventNames: counts(aggs.Names)}
	for _, b := range aggs.OverTime.Buckets {
		var ms int64
		_ = json.Unmarshal(b.Key, &ms)
		res.Buckets = append(res.Buckets, &queryv1.Bucket{Start: timestamppb.New(time.UnixMilli(ms)), Count: b.DocCount})
	}
	return res, nil
}

func cursor(sort []json.RawMessage) (search.Cursor, error) {
	var c search.Cursor
	if len(sort) != 2 {
		return c, fmt.Errorf("hit has %d sort values, want 2", len(sort))
	}
	if err := json.Unmarshal(sort[0], &c.TimestampMillis); err != nil {
		return c, fmt.Errorf("sort timestamp %s: %w", sort[0], err)
	}
	if err := json.Unmarshal(sort[1], &c.DocID); err != nil {
		return c, fmt.Errorf("sort doc_id %s: %w", sort[1], err)
	}
	return c, nil
}

// ceilMilli is t in epoch milliseconds, rounded up.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli() // rounded down
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}
