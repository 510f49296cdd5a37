// Package deadletter replays the documents OpenSearch refused. enrich keeps
// each one in the daily dead-letter index of the day it failed
// (deadletter-<prefix>-YYYY.MM.DD; deadletter-<prefix> before they were
// daily, still read) with OpenSearch's reason and the document as it was
// built; once the cause is fixed (a template change, a mapping put on the
// existing indices) the operator replays them: each is written with
// `create` under its original id into its original daily index, so a
// replay — or a second one — never makes a duplicate there. A document
// written (or found already there) leaves the dead-letter index; one
// refused again stays, with the new reason.
package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	enrichos "github.com/evtrack/telemetry/services/enrich/internal/opensearch"
)

// Filter selects dead letters; empty fields match any.
type Filter struct {
	AppID     string
	ErrorType string // OpenSearch's error type, e.g. strict_dynamic_mapping_exception
}

// Report counts what a replay did.
type Report struct {
	Matched        int            `json:"matched"`
	Replayed       int            `json:"replayed"`
	AlreadyPresent int            `json:"already_present"`
	StillRefused   int            `json:"still_refused"`
	Expired        int            `json:"expired"`
	NoDocument     int            `json:"no_document"` // too large to have been kept: cannot be replayed
	Reasons        map[string]int `json:"still_refused_by_error_type,omitempty"`
}

// Replayer replays the dead letters of one index prefix.
type Replayer struct {
	client    *opensearch.Client
	indexer   *enrichos.BulkIndexer
	prefix    string
	retention time.Duration
	pageSize  int
	now       func() time.Time
}

// New returns a Replayer for prefix. Dead letters whose daily index is
// older than retention (0: keep for ever) are left alone: the retention
// would delete them again.
func New(client *opensearch.Client, prefix string, retention time.Duration) *Replayer {
	return &Replayer{client: client, indexer: enrichos.NewBulkIndexer(client), prefix: prefix,
		retention: retention, pageSize: 500, now: time.Now}
}

// Replay replays the dead letters matching f, in pages; with dryRun it only
// counts them. It stops at the first page OpenSearch cannot take (429, 5xx,
// unreachable) and returns what was done so far with the error; running it
// again continues safely.
func (r *Replayer) Replay(ctx context.Context, f Filter, dryRun bool) (Report, error) {
	rep := Report{Reasons: map[string]int{}}
	var after []any
	for {
		page, err := r.page(ctx, f, after)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			return rep, nil
		}
		last := page[len(page)-1]
		after = []any{last.DocID, last.at}
		rep.Matched += len(page)
		var due []stored
		for _, l := range page {
			if r.expired(l.Index) {
				rep.Expired++
				continue
			}
			if l.DocumentOmitted || len(l.Document) == 0 {
				rep.NoDocument++
				continue
			}
			due = append(due, l)
		}
		if dryRun || len(due) == 0 {
			continue
		}
		if err := r.replay(ctx, due, &rep); err != nil {
			return rep, err
		}
	}
}

// expired reports whether index is a daily index past the retention.
func (r *Replayer) expired(index string) bool {
	day, ok := eventdoc.DayOf(r.prefix, index)
	return r.retention > 0 && ok && day.Add(24*time.Hour).Before(r.now().Add(-r.retention))
}

// stored is a dead letter and the dead-letter index it is in.
type stored struct {
	eventdoc.DeadLetter
	at string
}

// page returns the next dead letters after the sort values after (doc id,
// then dead-letter index: one document may have been dead-lettered on two
// days).
func (r *Replayer) page(ctx context.Context, f Filter, after []any) ([]stored, error) {
	filters := []any{}
	if f.AppID != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"app_id": f.AppID}})
	}
	if f.ErrorType != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"error_type": f.ErrorType}})
	}
	body := map[string]any{
		"size": r.pageSize, "track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"filter": filters}},
		"sort":  []any{map[string]any{"doc_id": "asc"}, map[string]any{"_index": "asc"}},
	}
	if after != nil {
		body["search_after"] = after
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ignore := true
	index := eventdoc.DeadLetterPattern(r.prefix) + "," + eventdoc.DeadLetterPrefix(r.prefix)
	res, err := opensearchapi.SearchRequest{Index: []string{eventdoc.DeadLetterPattern(r.prefix), eventdoc.DeadLetterPrefix(r.prefix)},
		Body: bytes.NewReader(b), IgnoreUnavailable: &ignore, AllowNoIndices: &ignore}.Do(ctx, r.client)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return nil, fmt.Errorf("read %s: %s: %s", index, res.Status(), msg)
	}
	var sr struct {
		Shards struct {
			Failed   int             `json:"failed"`
			Failures json.RawMessage `json:"failures"`
		} `json:"_shards"`
		Hits struct {
			Hits []struct {
				Index  string              `json:"_index"`
				Source eventdoc.DeadLetter `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		return nil, fmt.Errorf("read %s: %w", index, err)
	}
	if sr.Shards.Failed > 0 { // a partial page would skip dead letters for good
		return nil, fmt.Errorf("read %s: %d shards failed: %.500s", index, sr.Shards.Failed, sr.Shards.Failures)
	}
	out := make([]stored, len(sr.Hits.Hits))
	for i, h := range sr.Hits.Hits {
		out[i] = stored{h.Source, h.Index}
	}
	return out, nil
}

// replay writes one page of dead letters to their indices and then
// deletes those written (or already there) from the dead-letter index and
// records the new reason of those refused again.
func (r *Replayer) replay(ctx context.Context, letters []stored, rep *Report) error {
	// The event may have been written since, by a later delivery placed in
	// another daily index (one placed by its arrival): look for it in every
	// event index first, as enrich does for such documents.
	refs := make([]enrichos.LocateRef, len(letters))
	for i, l := range letters {
		refs[i] = enrichos.LocateRef{ID: l.DocID}
	}
	found, err := r.indexer.Locate(ctx, eventdoc.Pattern(r.prefix), refs)
	if err != nil {
		return fmt.Errorf("look up %d documents: %w", len(refs), err)
	}
	var docs []document.Doc
	var sent []int // letters' positions of docs
	results := make([]enrichos.ItemResult, len(letters))
	for i, l := range letters {
		if _, ok := found[l.DocID]; ok {
			results[i] = enrichos.ItemResult{Outcome: enrichos.Exists}
			continue
		}
		docs = append(docs, document.Doc{ID: l.DocID, Index: l.Index, Body: l.Document})
		sent = append(sent, i)
	}
	if len(docs) > 0 {
		written, err := r.indexer.Index(ctx, docs)
		if err != nil {
			return fmt.Errorf("replay %d documents: %w", len(docs), err)
		}
		for j, i := range sent {
			results[i] = written[j]
		}
	}
	var body bytes.Buffer
	retry := 0
	for i, res := range results {
		l := letters[i]
		id, dl := strconv.Quote(l.DocID), strconv.Quote(l.at)
		switch res.Outcome {
		case enrichos.Created, enrichos.Exists:
			if res.Outcome == enrichos.Created {
				rep.Replayed++
			} else {
				rep.AlreadyPresent++
			}
			fmt.Fprintf(&body, "{\"delete\":{\"_index\":%s,\"_id\":%s}}\n", dl, id)
		case enrichos.Rejected, enrichos.Failed:
			rep.StillRefused++
			rep.Reasons[res.ErrorType]++
			l.Status, l.ErrorType, l.ErrorReason, l.FailedAt = res.Status, res.ErrorType, res.Reason, r.now().UTC()
			b, err := json.Marshal(l.DeadLetter)
			if err != nil {
				return fmt.Errorf("encode dead letter %s: %w", l.DocID, err)
			}
			fmt.Fprintf(&body, "{\"index\":{\"_index\":%s,\"_id\":%s}}\n%s\n", dl, id, b)
		default:
			retry++
		}
	}
	if body.Len() > 0 {
		if err := r.bulk(ctx, &body); err != nil {
			return err
		}
	}
	if retry > 0 {
		return fmt.Errorf("OpenSearch asked to retry %d of %d documents (busy or failing); run the replay again later", retry, len(letters))
	}
	return nil
}

// bulk sends delete and index operations on the dead-letter index.
func (r *Replayer) bulk(ctx context.Context, body *bytes.Buffer) error {
	res, err := opensearchapi.BulkRequest{Body: body, FilterPath: []string{"errors", "items.*.error"}}.Do(ctx, r.client)
	if err != nil {
		return fmt.Errorf("update dead letters: %w", err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.IsError() {
		return fmt.Errorf("update dead letters: %s: %s", res.Status(), msg)
	}
	if res.StatusCode != http.StatusOK || !bytes.Contains(msg, []byte(`"errors":false`)) {
		return fmt.Errorf("update dead letters: %s", msg)
	}
	return nil
}
