package bulk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/deadletter"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// DeadLetters reads the dead letters, writes their documents back and
// settles them in OpenSearch. It implements deadletter.Store.
type DeadLetters struct {
	client  *opensearch.Client
	indexer *Indexer
}

var _ deadletter.Store = (*DeadLetters)(nil)

// NewDeadLetters returns the dead-letter store over client.
func NewDeadLetters(client *opensearch.Client) *DeadLetters {
	return &DeadLetters{client: client, indexer: NewIndexer(client)}
}

// Letters implements deadletter.Store: a search sorted by doc id, then by
// dead-letter index (one document may have been dead-lettered on two
// days), paged with search_after.
func (s *DeadLetters) Letters(ctx context.Context, indices []string, f deadletter.Filter, after *deadletter.Letter, size int) ([]deadletter.Letter, error) {
	filters := []any{}
	if f.AppID != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"app_id": f.AppID}})
	}
	if f.ErrorType != "" {
		filters = append(filters, map[string]any{"term": map[string]any{"error_type": f.ErrorType}})
	}
	body := map[string]any{
		"size": size, "track_total_hits": false,
		"query": map[string]any{"bool": map[string]any{"filter": filters}},
		"sort":  []any{map[string]any{"doc_id": "asc"}, map[string]any{"_index": "asc"}},
	}
	if after != nil {
		body["search_after"] = []any{after.DocID, after.DeadLetterIndex}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	index := strings.Join(indices, ",")
	var sr struct {
		Shards opensearchx.Shards `json:"_shards"`
		Hits   struct {
			Hits []struct {
				Index  string              `json:"_index"`
				Source eventdoc.DeadLetter `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := opensearchx.DoJSON(ctx, s.client, opensearchx.Request{Method: http.MethodPost,
		Path: "/" + index + "/_search?ignore_unavailable=true&allow_no_indices=true", Body: b}, &sr); err != nil {
		return nil, fmt.Errorf("read %s: %w", index, err)
	}
	if err := sr.Shards.Partial(); err != nil { // a partial page would skip dead letters for good
		return nil, fmt.Errorf("read %s: %w", index, err)
	}
	out := make([]deadletter.Letter, len(sr.Hits.Hits))
	for i, h := range sr.Hits.Hits {
		out[i] = deadletter.Letter{DeadLetter: h.Source, DeadLetterIndex: h.Index}
	}
	return out, nil
}

// Locate implements deadletter.Store: a search of every index matching
// pattern (see Indexer.Locate).
func (s *DeadLetters) Locate(ctx context.Context, pattern string, ids []string) (map[string]string, error) {
	refs := make([]pipeline.LocateRef, len(ids))
	for i, id := range ids {
		refs[i] = pipeline.LocateRef{ID: id}
	}
	return s.indexer.Locate(ctx, pattern, refs)
}

// Write implements deadletter.Store with Indexer.Index: a document refused
// for what it contains or for a reason of its own (Rejected, Failed) is
// Refused, one the cluster cannot take now is Retry.
func (s *DeadLetters) Write(ctx context.Context, docs []document.Doc) ([]deadletter.Written, error) {
	results, err := s.indexer.Index(ctx, docs)
	if err != nil {
		return nil, err
	}
	out := make([]deadletter.Written, len(results))
	for i, r := range results {
		o := deadletter.Retry
		switch r.Outcome {
		case pipeline.Created:
			o = deadletter.Created
		case pipeline.Exists:
			o = deadletter.Exists
		case pipeline.Rejected, pipeline.Failed:
			o = deadletter.Refused
		}
		out[i] = deadletter.Written{Outcome: o, Status: r.Status, ErrorType: r.ErrorType, Reason: r.Reason}
	}
	return out, nil
}

// Settle implements deadletter.Store in one _bulk request: a delete per
// replayed letter, an index (over the old one) per refused letter.
func (s *DeadLetters) Settle(ctx context.Context, replayed, refused []deadletter.Letter) error {
	var body opensearchx.BulkBody
	for _, l := range replayed {
		body.Delete(l.DeadLetterIndex, l.DocID)
	}
	for _, l := range refused {
		doc, err := json.Marshal(l.DeadLetter)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", l.DocID, err)
		}
		body.Index(l.DeadLetterIndex, l.DocID, doc)
	}
	return opensearchx.BulkAll(ctx, s.client, &body)
}
