package opensearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
)

// JobsIndex is the index of the deletion jobs of an events prefix. It
// matches none of the event, dead-letter or audit patterns.
func JobsIndex(prefix string) string { return "deletions-" + prefix }

// jobsMapping indexes only what jobs are looked up by; the rest (the
// person's ids while a job runs among them) is kept in _source only. %d is
// the number of replicas.
const jobsMapping = `{"settings":{"index":{"number_of_shards":1,"number_of_replicas":%d}},
"mappings":{"dynamic":false,"properties":{
"job_id":{"type":"keyword"},"app_id":{"type":"keyword"},"subject":{"type":"keyword"},"state":{"type":"keyword"},
"requester":{"type":"keyword"},"created_at":{"type":"date"},"completed_at":{"type":"date"},"lease_until":{"type":"date"}}}}`

// Jobs stores deletion jobs in JobsIndex (deletion.Store).
type Jobs struct {
	client   *opensearch.Client
	index    string
	replicas int
	ensured  atomic.Bool
}

// NewJobs returns the job store of prefix, whose index has replicas copies
// of its shard beside the primary (OPENSEARCH_INDEX_REPLICAS: on a cluster,
// the jobs outlive the loss of a node); EnsureIndex creates it.
func NewJobs(client *opensearch.Client, prefix string, replicas int) *Jobs {
	return &Jobs{client: client, index: JobsIndex(prefix), replicas: replicas}
}

// EnsureIndex creates the jobs index unless it exists, and raises the
// replicas of one that exists with fewer (made by an earlier version with
// none). Every write calls it first (once it succeeded, no more): a job
// written to a missing index would create it with dynamic mappings,
// indexing the person's ids.
func (s *Jobs) EnsureIndex(ctx context.Context) error {
	if s.ensured.Load() {
		return nil
	}
	_, err := opensearchx.Do(ctx, s.client, opensearchx.Request{Method: http.MethodPut, Path: "/" + s.index,
		Body: fmt.Appendf(nil, jobsMapping, s.replicas)})
	var se *opensearchx.StatusError
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Type == "resource_already_exists_exception":
		if err := s.raiseReplicas(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("create index %s: %w", s.index, err)
	}
	s.ensured.Store(true)
	return nil
}

// raiseReplicas sets the existing jobs index's replicas to s.replicas if it
// has fewer.
func (s *Jobs) raiseReplicas(ctx context.Context) error {
	n, err := opensearchx.IndexReplicas(ctx, s.client, s.index)
	if err != nil {
		return err
	}
	if n >= s.replicas {
		return nil
	}
	if _, err := opensearchx.Do(ctx, s.client, opensearchx.Request{Method: http.MethodPut, Path: "/" + s.index + "/_settings",
		Body: fmt.Appendf(nil, `{"index":{"number_of_replicas":%d}}`, s.replicas)}); err != nil {
		return fmt.Errorf("raise the replicas of %s to %d: %w", s.index, s.replicas, err)
	}
	return nil
}

// Create implements deletion.Store.
func (s *Jobs) Create(ctx context.Context, j deletion.Job) error {
	if err := s.EnsureIndex(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode deletion job: %w", err)
	}
	_, err = opensearchx.Do(ctx, s.client, opensearchx.Request{Method: http.MethodPut,
		Path: "/" + s.index + "/_create/" + url.PathEscape(j.ID) + "?refresh=true", Body: b})
	if err != nil {
		return fmt.Errorf("store deletion job: %w", err)
	}
	return nil
}

// Get implements deletion.Store.
func (s *Jobs) Get(ctx context.Context, id string) (deletion.Job, deletion.Version, error) {
	var doc struct {
		Found       bool         `json:"found"`
		SeqNo       int64        `json:"_seq_no"`
		PrimaryTerm int64        `json:"_primary_term"`
		Source      deletion.Job `json:"_source"`
	}
	err := opensearchx.DoJSON(ctx, s.client, opensearchx.Request{Method: http.MethodGet, Path: "/" + s.index + "/_doc/" + url.PathEscape(id)}, &doc)
	var se *opensearchx.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return deletion.Job{}, deletion.Version{}, deletion.ErrNotFound
	}
	if err != nil {
		return deletion.Job{}, deletion.Version{}, fmt.Errorf("read deletion job: %w", err)
	}
	if !doc.Found {
		return deletion.Job{}, deletion.Version{}, deletion.ErrNotFound
	}
	return doc.Source, deletion.Version{SeqNo: doc.SeqNo, PrimaryTerm: doc.PrimaryTerm}, nil
}

// Update implements deletion.Store.
func (s *Jobs) Update(ctx context.Context, j deletion.Job, v deletion.Version) (deletion.Version, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return v, fmt.Errorf("encode deletion job: %w", err)
	}
	var res struct {
		SeqNo       int64 `json:"_seq_no"`
		PrimaryTerm int64 `json:"_primary_term"`
	}
	err = opensearchx.DoJSON(ctx, s.client, opensearchx.Request{Method: http.MethodPut,
		Path: fmt.Sprintf("/%s/_doc/%s?refresh=true&if_seq_no=%d&if_primary_term=%d", s.index, url.PathEscape(j.ID), v.SeqNo, v.PrimaryTerm), Body: b}, &res)
	var se *opensearchx.StatusError
	if errors.As(err, &se) && se.Status == http.StatusConflict {
		return v, deletion.ErrConflict
	}
	if err != nil {
		return v, fmt.Errorf("save deletion job: %w", err)
	}
	return deletion.Version{SeqNo: res.SeqNo, PrimaryTerm: res.PrimaryTerm}, nil
}

// Active implements deletion.Store.
func (s *Jobs) Active(ctx context.Context, subject string) (deletion.Job, bool, error) {
	hits, err := s.search(ctx, m{"bool": m{"filter": []any{m{"term": m{"subject": subject}},
		m{"terms": m{"state": []string{deletion.StatePending, deletion.StateRunning}}}}}}, 1)
	if err != nil || len(hits) == 0 {
		return deletion.Job{}, false, err
	}
	return hits[0], true, nil
}

// Claimable implements deletion.Store.
func (s *Jobs) Claimable(ctx context.Context, now time.Time) ([]string, error) {
	hits, err := s.search(ctx, m{"bool": m{"filter": []any{
		m{"terms": m{"state": []string{deletion.StatePending, deletion.StateRunning}}},
		m{"range": m{"lease_until": m{"lt": now.UnixMilli(), "format": "epoch_millis"}}}}}}, 20)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids, nil
}

func (s *Jobs) search(ctx context.Context, query m, size int) ([]deletion.Job, error) {
	body, err := json.Marshal(m{"size": size, "query": query, "sort": []any{m{"created_at": "asc"}}})
	if err != nil {
		return nil, err
	}
	var res struct {
		Shards opensearchx.Shards `json:"_shards"`
		Hits   struct {
			Hits []struct {
				Source deletion.Job `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := opensearchx.DoJSON(ctx, s.client, opensearchx.Request{Method: http.MethodPost,
		Path: "/" + s.index + "/_search?ignore_unavailable=true&allow_no_indices=true", Body: body}, &res); err != nil {
		return nil, fmt.Errorf("search deletion jobs: %w", err)
	}
	if err := res.Shards.Partial(); err != nil {
		// Jobs missing from the answer would look finished, or unclaimed.
		return nil, fmt.Errorf("search deletion jobs: %w", err)
	}
	out := make([]deletion.Job, len(res.Hits.Hits))
	for i, h := range res.Hits.Hits {
		out[i] = h.Source
	}
	return out, nil
}

// Documents finds and deletes a person's documents in the daily event
// indices and the dead-letter indices of a prefix (deletion.Documents).
// The cluster has no delete-by-query: documents are searched for and
// deleted with _bulk, a page at a time.
type Documents struct {
	client      *opensearch.Client
	events      string // the events pattern's path, missing indices no error
	deadLetters string // deadletter-<prefix>*, of which only deadletter-<prefix> and deadletter-<prefix>-* are read
	dlPrefix    string
	pseudonyms  *Pseudonyms // nil: ids are stored as sent
}

// NewDocuments returns the documents of prefix.
func NewDocuments(client *opensearch.Client, prefix string) *Documents {
	dl := eventdoc.DeadLetterPrefix(prefix)
	return &Documents{client: client, events: "/" + eventdoc.Pattern(prefix), dlPrefix: dl,
		deadLetters: dl + "*"}
}

const lenient = "allow_no_indices=true&ignore_unavailable=true"

// everyIndex makes a search or count of a pattern read its closed indices
// too, which then fails it (index_closed_exception) instead of leaving
// their documents out: by default a pattern expands to open indices only,
// and ignore_unavailable would leave a closed one out even when named
// (OpenSearch 2.19, checked on the node). An index deleted meanwhile is no
// error (allow_no_indices).
const everyIndex = "allow_no_indices=true&expand_wildcards=open,closed"

// WithPseudonyms makes the person's ids match their pseudonyms too (current
// and previous keys) in the fields enrich pseudonymises, as search does: the
// documents of a pseudonymised field hold the keyed hash, not the id.
func (d *Documents) WithPseudonyms(p Pseudonyms) *Documents {
	if len(p.Fields) > 0 {
		d.pseudonyms = &p
	}
	return d
}

// stored is what a document's field may hold for id: the id, and its
// pseudonyms when the field is pseudonymised.
func (p *Pseudonyms) stored(field, id string) []string {
	if p == nil || !slices.Contains(p.Fields, field) {
		return []string{id}
	}
	return p.Ring.Candidates(id)
}

// personQuery matches the person's events: their app and either id (as
// stored: the id or its pseudonyms).
func (d *Documents) personQuery(p deletion.Person) m {
	var ids []any
	if p.UserID != "" {
		ids = append(ids, m{"terms": m{"user_id": d.pseudonyms.stored("user_id", p.UserID)}})
	}
	if p.AnonymousID != "" {
		ids = append(ids, m{"terms": m{"anonymous_id": d.pseudonyms.stored("anonymous_id", p.AnonymousID)}})
	}
	return m{"bool": m{"filter": []any{m{"term": m{"app_id": p.AppID}},
		m{"bool": m{"should": ids, "minimum_should_match": 1}}}}}
}

// Refresh implements deletion.Documents: the event and dead-letter
// indices (a shard with nothing new is not touched).
func (d *Documents) Refresh(ctx context.Context) error {
	path := d.events + "," + d.deadLetters + "/_refresh?" + lenient
	if _, err := opensearchx.Do(ctx, d.client, opensearchx.Request{Method: http.MethodPost, Path: path}); err != nil {
		return fmt.Errorf("refresh before deleting: %w", err)
	}
	return nil
}

// CountEvents implements deletion.Documents.
func (d *Documents) CountEvents(ctx context.Context, p deletion.Person) (int64, error) {
	body, err := json.Marshal(m{"query": d.personQuery(p)})
	if err != nil {
		return 0, err
	}
	var res struct {
		Count  int64              `json:"count"`
		Shards opensearchx.Shards `json:"_shards"`
	}
	if err := opensearchx.DoJSON(ctx, d.client, opensearchx.Request{Method: http.MethodPost, Path: d.events + "/_count?" + everyIndex, Body: body}, &res); err != nil {
		return 0, fmt.Errorf("count the person's events: %w", d.closed(ctx, err))
	}
	if err := res.Shards.Partial(); err != nil {
		// A count missing a shard's events would report the job's total short.
		return 0, fmt.Errorf("count the person's events: %w", err)
	}
	return res.Count, nil
}

type docHit struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
	Sort   []any           `json:"sort"`
}

type searchResult struct {
	Shards opensearchx.Shards `json:"_shards"`
	Hits   struct {
		Hits []docHit `json:"hits"`
	} `json:"hits"`
}

func (d *Documents) searchHits(ctx context.Context, path string, req m) ([]docHit, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var res searchResult
	if err := opensearchx.DoJSON(ctx, d.client, opensearchx.Request{Method: http.MethodPost, Path: path, Body: body}, &res); err != nil {
		return nil, err
	}
	if err := res.Shards.Partial(); err != nil {
		// A page missing a shard's hits could end a deletion early.
		return nil, fmt.Errorf("search %s: %w", path, err)
	}
	return res.Hits.Hits, nil
}

// DeleteEvents implements deletion.Documents: it finds the first n of the
// person's events, deletes them and refreshes the shards it touched, so the
// next page's search no longer sees them (no cursor is needed: what is left
// is what the index holds, which is also why a restarted job simply goes
// on). It returns how many it found and how many of those are gone; an
// index deleted between the search and the _bulk (retention) makes every
// delete of its documents a 404: gone, not an error, and not "none left".
func (d *Documents) DeleteEvents(ctx context.Context, p deletion.Person, n int) (found, gone int, err error) {
	hits, err := d.searchHits(ctx, d.events+"/_search?"+everyIndex, m{"size": n, "_source": false, "sort": []string{"_doc"}, "query": d.personQuery(p)})
	if err != nil {
		return 0, 0, fmt.Errorf("find the person's events: %w", d.closed(ctx, err))
	}
	if len(hits) == 0 {
		return 0, 0, nil
	}
	gone, err = d.delete(ctx, hits, true)
	return len(hits), gone, err
}

// delete deletes hits in one _bulk and returns how many are gone: deleted
// by it, or not found (already gone: deleted by an earlier attempt, or
// their index deleted by retention).
func (d *Documents) delete(ctx context.Context, hits []docHit, refresh bool) (int, error) {
	var body opensearchx.BulkBody
	for _, h := range hits {
		body.Delete(h.Index, h.ID)
	}
	path := "/_bulk?filter_path=errors,items.*.status,items.*.error.type"
	if refresh {
		path += "&refresh=true"
	}
	var res struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type string `json:"type"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := opensearchx.DoJSON(ctx, d.client, opensearchx.Request{Method: http.MethodPost, Path: path, Body: body.Bytes()}, &res); err != nil {
		return 0, fmt.Errorf("delete the person's documents: %w", err)
	}
	gone := 0
	for _, item := range res.Items {
		for _, r := range item {
			switch r.Status {
			case http.StatusOK, http.StatusNotFound: // a 404: the document, or its index, is already gone
				gone++
			default:
				return gone, fmt.Errorf("delete a document: status %d %s", r.Status, r.Error.Type)
			}
		}
	}
	return gone, nil
}

// DeadLetters implements deletion.Documents. A dead letter keeps its
// refused document whole and unindexed, so the person's letters are found by
// reading every letter of the app (indices in name order, each by doc_id)
// and comparing the document's ids.
func (d *Documents) DeadLetters(ctx context.Context, p deletion.Person, cur deletion.Cursor, n int, countOnly bool) (int, deletion.Cursor, bool, error) {
	if cur.Index == "" {
		first, ok, err := d.nextDeadLetterIndex(ctx, "")
		if err != nil || !ok {
			return 0, cur, !ok, err
		}
		cur = deletion.Cursor{Index: first}
	}
	req := m{"size": n, "_source": []string{"document.user_id", "document.anonymous_id"}, "sort": []any{m{"doc_id": "asc"}},
		"query": m{"term": m{"app_id": p.AppID}}}
	if cur.After != "" {
		req["search_after"] = []any{cur.After}
	}
	// The index by name, without ignore_unavailable: a closed one fails
	// the read (ignore_unavailable would pass over it as if empty); one
	// deleted meanwhile (retention) has no letters left.
	hits, err := d.searchHits(ctx, "/"+url.PathEscape(cur.Index)+"/_search", req)
	var se *opensearchx.StatusError
	if errors.As(err, &se) && se.Type == "index_not_found_exception" {
		hits, err = nil, nil
	}
	if err != nil {
		return 0, cur, false, fmt.Errorf("read dead letters of %s: %w", cur.Index, d.closed(ctx, err))
	}
	var theirs []docHit
	for _, h := range hits {
		var src struct {
			Document struct {
				UserID      string `json:"user_id"`
				AnonymousID string `json:"anonymous_id"`
			} `json:"document"`
		}
		if json.Unmarshal(h.Source, &src) != nil {
			continue
		}
		if (p.UserID != "" && slices.Contains(d.pseudonyms.stored("user_id", p.UserID), src.Document.UserID)) ||
			(p.AnonymousID != "" && slices.Contains(d.pseudonyms.stored("anonymous_id", p.AnonymousID), src.Document.AnonymousID)) {
			theirs = append(theirs, h)
		}
	}
	matched := len(theirs)
	if !countOnly && len(theirs) > 0 {
		if matched, err = d.delete(ctx, theirs, false); err != nil {
			return 0, cur, false, err
		}
	}
	if len(hits) == n {
		if s, ok := hits[len(hits)-1].Sort[0].(string); ok {
			return matched, deletion.Cursor{Index: cur.Index, After: s}, false, nil
		}
	}
	next, ok, err := d.nextDeadLetterIndex(ctx, cur.Index)
	if err != nil {
		return matched, cur, false, err
	}
	if !ok {
		return matched, cur, true, nil
	}
	return matched, deletion.Cursor{Index: next}, false, nil
}

// closed turns the error of a read that met a closed index into one that
// wraps deletion.ErrIndexClosed and names the prefix's closed indices
// (events and dead letters), for the job's log and last_error; other
// errors are returned as they are.
func (d *Documents) closed(ctx context.Context, err error) error {
	var se *opensearchx.StatusError
	if !errors.As(err, &se) || se.Type != "index_closed_exception" {
		return err
	}
	var rows []struct {
		Index  string `json:"index"`
		Status string `json:"status"`
	}
	if lerr := opensearchx.DoJSON(ctx, d.client, opensearchx.Request{Method: http.MethodGet,
		Path: "/_cat/indices/" + strings.TrimPrefix(d.events, "/") + "," + d.deadLetters + "?format=json&h=index,status&expand_wildcards=open,closed"}, &rows); lerr != nil {
		return fmt.Errorf("%w (%w)", deletion.ErrIndexClosed, err)
	}
	var names []string
	for _, r := range rows {
		ours := !strings.HasPrefix(r.Index, "deadletter-") || r.Index == d.dlPrefix || strings.HasPrefix(r.Index, d.dlPrefix+"-")
		if r.Status == "close" && ours {
			names = append(names, r.Index)
		}
	}
	if len(names) == 0 { // opened meanwhile: the next attempt will see
		return fmt.Errorf("%w (%w)", deletion.ErrIndexClosed, err)
	}
	slices.Sort(names)
	return fmt.Errorf("%w: %s: the person's documents there can be neither found nor deleted; "+
		"the job goes on once each is opened (POST /<index>/_open) or deleted", deletion.ErrIndexClosed, strings.Join(names, ", "))
}

// nextDeadLetterIndex is the first dead-letter index of the prefix whose
// name sorts after after, closed ones included (reading one then fails
// with deletion.ErrIndexClosed: its letters must not be passed over).
func (d *Documents) nextDeadLetterIndex(ctx context.Context, after string) (string, bool, error) {
	var rows []struct {
		Index string `json:"index"`
	}
	err := opensearchx.DoJSON(ctx, d.client, opensearchx.Request{Method: http.MethodGet,
		Path: "/_cat/indices/" + d.deadLetters + "?format=json&h=index&expand_wildcards=open,closed"}, &rows)
	var se *opensearchx.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("list dead-letter indices: %w", err)
	}
	var names []string
	for _, r := range rows {
		if r.Index == d.dlPrefix || strings.HasPrefix(r.Index, d.dlPrefix+"-") {
			names = append(names, r.Index)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if name > after {
			return name, true, nil
		}
	}
	return "", false, nil
}
