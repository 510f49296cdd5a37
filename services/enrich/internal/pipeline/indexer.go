package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// Indexer is the port the pipeline writes through (bulk.Indexer over
// OpenSearch): it writes documents and reports each one's outcome in order,
// keeps refused documents in a dead-letter index, finds documents already
// written, and tells whether the cluster answers at all.
type Indexer interface {
	// Index writes docs with `create` (an existing id is never
	// overwritten) and returns each one's outcome, in order. An error
	// means the request as a whole failed (a *RequestError when the
	// cluster answered with an error status): nothing is known to be
	// written.
	Index(ctx context.Context, docs []document.Doc) ([]ItemResult, error)
	// DeadLetter writes letters into index under the refused documents'
	// ids, so writing one twice keeps one.
	DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error
	// Locate returns the index of every ref already written: each ref's
	// Indices are read in real time, and when pattern is not empty every
	// index matching it is searched. A missing index holds nothing.
	Locate(ctx context.Context, pattern string, refs []LocateRef) (map[string]string, error)
	// Ping returns an error unless the cluster answers.
	Ping(ctx context.Context) error
}

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

// ItemResult is the outcome of one document, in request order.
type ItemResult struct {
	Outcome   Outcome
	Status    int
	ErrorType string
	Reason    string // error type and reason when not Created/Exists
}

// LocateRef names a document to look for: its id, and the indices to read
// it from in real time.
type LocateRef struct {
	ID      string
	Indices []string
}

// RequestError is a request (a bulk, a look-up) the cluster answered with
// an error status as a whole: nothing of it was written.
type RequestError struct {
	Status int
	Type   string // the cluster's error type, when it says
	Body   string // the start of the answer
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Status, e.Body)
}

// tooLarge reports whether err is a request refused for its size (413):
// a smaller request may pass.
func tooLarge(err error) bool {
	var re *RequestError
	return errors.As(err, &re) && re.Status == http.StatusRequestEntityTooLarge
}
