// Package bulk is the enrich service's adapter to the documents in
// OpenSearch: Indexer writes them with _bulk `create`, keeps refused ones in
// the dead-letter indices and finds those already written (the
// pipeline.Indexer port); DeadLetters reads the dead letters back and
// settles them after a replay (the deadletter.Store port). Classify says
// what OpenSearch's answer for one document means. Requests go through
// platform/opensearchx.
package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// Indexer writes documents with `create`, so an id that exists is never
// overwritten. It implements pipeline.Indexer.
type Indexer struct {
	client *opensearch.Client
}

var _ pipeline.Indexer = (*Indexer)(nil)

// NewIndexer returns an indexer over client.
func NewIndexer(client *opensearch.Client) *Indexer {
	return &Indexer{client: client}
}

// Ping returns an error unless the cluster answers.
func (b *Indexer) Ping(ctx context.Context) error { return opensearchx.Ping(b.client)(ctx) }

// omitAbove: when a request of dead letters is refused as too large, the
// letters whose document is larger than this are written again without it
// (with its size): a document no request can carry must still leave a trace.
const omitAbove = 1 << 10

// DeadLetter writes dead-letter documents into index with `create` under the
// refused document's id, so writing the same one twice keeps one. If the
// request is too large for OpenSearch (the refused document was itself too
// large), the large documents are left out of their letters
// (document_omitted, document_bytes) and the letters written again.
func (b *Indexer) DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
	err := b.deadLetter(ctx, index, letters)
	var se *opensearchx.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge {
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

func (b *Indexer) deadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
	var body opensearchx.BulkBody
	for _, l := range letters {
		doc, err := json.Marshal(l)
		if err != nil {
			return fmt.Errorf("encode dead letter %s: %w", l.DocID, err)
		}
		body.Create(index, l.DocID, doc)
	}
	items, err := opensearchx.Bulk(ctx, b.client, &body)
	if err != nil {
		return fmt.Errorf("dead-letter %d documents: bulk of %d bytes: %w", len(letters), body.Len(), err)
	}
	for i, it := range items {
		if o := Classify(it.Status, it.ErrorType, it.Reason); o != pipeline.Created && o != pipeline.Exists {
			return fmt.Errorf("dead-letter document %s refused: status %d: %s: %s", letters[i].DocID, it.Status, it.ErrorType, it.Reason)
		}
	}
	return nil
}

// Index sends docs in one _bulk request of `create` actions. An error means
// the request as a whole failed (unreachable, or an error status for the
// whole call: a *pipeline.RequestError): nothing is known to be written and
// every document should be retried.
func (b *Indexer) Index(ctx context.Context, docs []document.Doc) ([]pipeline.ItemResult, error) {
	var body opensearchx.BulkBody
	size := 0
	for _, d := range docs {
		size += len(d.Body) + len(d.Index) + len(d.ID) + 32
	}
	body.Grow(size)
	for _, d := range docs {
		body.Create(d.Index, d.ID, d.Body)
	}
	items, err := opensearchx.Bulk(ctx, b.client, &body)
	if err != nil {
		return nil, fmt.Errorf("bulk of %d documents (%d bytes): %w", len(docs), body.Len(), requestError(err))
	}
	out := make([]pipeline.ItemResult, len(items))
	for i, it := range items {
		out[i] = pipeline.ItemResult{Outcome: Classify(it.Status, it.ErrorType, it.Reason), Status: it.Status, ErrorType: it.ErrorType}
		if it.ErrorType != "" {
			out[i].Reason = it.ErrorType + ": " + it.Reason
		}
	}
	return out, nil
}

// requestError gives the pipeline an error status of a whole request as its
// own *pipeline.RequestError (it decides from the status whose fault that
// is); any other error is returned as it is.
func requestError(err error) error {
	var se *opensearchx.StatusError
	if !errors.As(err, &se) {
		return err
	}
	return &pipeline.RequestError{Status: se.Status, Type: se.Type, Body: se.Body}
}
