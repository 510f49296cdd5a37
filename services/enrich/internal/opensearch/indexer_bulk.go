package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// Outcome is what happened to one document of a bulk request.
type Outcome int

const (
	// Created: the document was written.
	Created Outcome = iota + 1
	// Exists: a document with this id was already there (a redelivery).
	Exists
	// Retry: a transient failure (429, 5xx); send it again later.
	Retry
	// Rejected: OpenSearch refuses this document (mapping error, other 4xx).
	Rejected
)

// ItemResult is the outcome of one document, in request order.
type ItemResult struct {
	Outcome   Outcome
	Status    int
	ErrorType string
	Reason    string // error type and reason when not Created/Exists
}

// BulkIndexer writes documents with `create`, so an id that exists is never
// overwritten.
type BulkIndexer struct {
	client *opensearch.Client
}

// NewBulkIndexer returns an indexer over client.
func NewBulkIndexer(client *opensearch.Client) *BulkIndexer {
	return &BulkIndexer{client: client}
}

type bulkItem struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []struct {
		Create bulkItem `json:"create"`
	} `json:"items"`
}

// DeadLetter writes dead-letter documents into index with `create` under the
// refused document's id, so writing the same one twice keeps one.
func (b *BulkIndexer) DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
	docs := make([]document.Doc, len(letters))
	for i, l := range letters {
		body, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", l.DocID, err)
		}
		docs[i] = document.Doc{ID: l.DocID, Index: index, Body: body}
	}
	results, err := b.Index(ctx, docs)
	if err != nil {
		return fmt.Errorf("dead-letter %d documents: %w", len(docs), err)
	}
	for i, r := range results {
		if r.Outcome != Created && r.Outcome != Exists {
			return fmt.Errorf("dead-letter document %s refused: status %d: %s", docs[i].ID, r.Status, r.Reason)
		}
	}
	return nil
}

// Index sends docs in one _bulk request. An error means the request as a
// whole failed (unreachable, 429/5xx for the whole call): nothing is known to
// be written and every document should be retried.
func (b *BulkIndexer) Index(ctx context.Context, docs []document.Doc) ([]ItemResult, error) {
	size := 0
	for _, d := range docs {
		size += len(d.Body) + len(d.Index) + len(d.ID) + 32
	}
	body := make([]byte, 0, size)
	for _, d := range docs {
		body = append(body, `{"create":{"_index":`...)
		body = appendQuoted(body, d.Index)
		body = append(body, `,"_id":`...)
		body = appendQuoted(body, d.ID)
		body = append(body, "}}\n"...)
		body = append(body, d.Body...)
		body = append(body, '\n')
	}
	res, err := opensearchapi.BulkRequest{
		Body:       bytes.NewReader(body),
		FilterPath: []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"},
	}.Do(ctx, b.client)
	if err != nil {
		return nil, fmt.Errorf("bulk of %d documents: %w", len(docs), err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return nil, fmt.Errorf("bulk of %d documents: %s: %s", len(docs), res.Status(), msg)
	}
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("bulk of %d documents: read response: %w", len(docs), err)
	}
	out := make([]ItemResult, len(docs))
	// The usual answer: every document created. Its items need no decoding.
	if bytes.HasPrefix(raw, []byte(`{"errors":false,`)) && bytes.Count(raw, []byte(`"status":201`)) == len(docs) {
		for i := range out {
			out[i] = ItemResult{Outcome: Created, Status: 201}
		}
		return out, nil
	}
	var br bulkResponse
	if err := json.Unmarshal(raw, &br); err != nil {
		return nil, fmt.Errorf("bulk of %d documents: decode response: %w", len(docs), err)
	}
	if len(br.Items) != len(docs) {
		return nil, fmt.Errorf("bulk of %d documents: response has %d items", len(docs), len(br.Items))
	}
	for i, item := range br.Items {
		r := item.Create
		out[i] = classify(r.Status)
		out[i].Status = r.Status
		if r.Error != nil {
			out[i].ErrorType = r.Error.Type
			out[i].Reason = r.Error.Type + ": " + r.Error.Reason
		}
	}
	return out, nil
}

// appendQuoted appends s as a JSON string. Index names and document ids
// are plain ASCII (validated prefix and date; base64url), written as they
// are; anything else goes through encoding/json.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func classify(status int) ItemResult {
	switch {
	case status == 200 || status == 201:
		return ItemResult{Outcome: Created}
	case status == 409:
		return ItemResult{Outcome: Exists}
	case status == 429 || status >= 500:
		return ItemResult{Outcome: Retry}
	default:
		return ItemResult{Outcome: Rejected}
	}
}
