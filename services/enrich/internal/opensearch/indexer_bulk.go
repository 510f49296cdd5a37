package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/opensearch-project/opensearch-go/v2/opensearchapi"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// Outcome is what happened to one document of a bulk request.
type Outcome int

const (
	// Created: the document was written.
	Created Outcome = iota + 1
	// Exists: a document with this id was already there (a redelivery).
	Exists
	// Rejected: OpenSearch refuses this document for what it contains
	// (a mapping error): no retry can succeed, it is dead-lettered.
	Rejected
	// Unavailable: the cluster, or the index, cannot take writes now
	// (blocked, closed, missing, shard limit, overloaded, 5xx): not the
	// document's fault. Retried until it can, never dead-lettered.
	Unavailable
	// Failed: neither of the above (an unknown 4xx, a request that timed
	// out while the cluster answers): the message's delivery is spent, and
	// after enough of them its documents are dead-lettered.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Exists:
		return "exists"
	case Rejected:
		return "rejected"
	case Unavailable:
		return "unavailable"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// RequestError is a _bulk (or lookup) request OpenSearch answered with an
// error status as a whole: nothing of it was written.
type RequestError struct {
	Status int
	Type   string // OpenSearch's error type, when the body says
	Body   string // the start of the body
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Status, e.Body)
}

// requestError reads an error answer.
func requestError(res *opensearchapi.Response) *RequestError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
	var doc struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &doc)
	return &RequestError{Status: res.StatusCode, Type: doc.Error.Type, Body: string(body)}
}

// IsTooLarge reports whether err is a request refused for its size (413):
// a smaller request may pass.
func IsTooLarge(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Status == http.StatusRequestEntityTooLarge
}

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

// Ping returns an error unless the cluster answers.
func (b *BulkIndexer) Ping(ctx context.Context) error { return opensearchx.Ping(b.client)(ctx) }

// omitAbove: when a request of dead letters is refused as too large, the
// letters whose document is larger than this are written again without it
// (with its size): a document no request can carry must still leave a trace.
const omitAbove = 1 << 10

// DeadLetter writes dead-letter documents into index with `create` under the
// refused document's id, so writing the same one twice keeps one. If the
// request is too large for OpenSearch (the refused document was itself too
// large), the large documents are left out of their letters
// (document_omitted, document_bytes) and the letters written again.
func (b *BulkIndexer) DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
	err := b.deadLetter(ctx, index, letters)
	if !IsTooLarge(err) {
		return err
	}
	slim := make([]eventdoc.DeadLetter, len(letters))
	for i, l := range letters {
		if len(l.Document) > omitAbove {
			l.DocumentBytes, l.DocumentOmitted, l.Document = len(l.Document), true, nil
		}
		slim[i] = l
	}
	return b.deadLetter(ctx, index, slim)
}

func (b *BulkIndexer) deadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
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
		return nil, fmt.Errorf("bulk of %d documents (%d bytes): %w", len(docs), len(body), requestError(res))
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
		var errType, reason string
		if r.Error != nil {
			errType, reason = r.Error.Type, r.Error.Reason
		}
		out[i] = ItemResult{Outcome: Classify(r.Status, errType, reason), Status: r.Status, ErrorType: errType}
		if r.Error != nil {
			out[i].Reason = errType + ": " + reason
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
