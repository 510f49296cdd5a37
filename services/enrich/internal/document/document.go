// Package document turns the events of a batch into OpenSearch documents.
//
// Everything here is a pure function of the batch: the same message, however
// often it is redelivered, yields the same document id in the same index, which
// is what makes `create` writes exactly-once in effect.
package document

import (
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"

	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
)

// Doc is one document ready for a bulk `create`.
type Doc struct {
	ID      string
	Index   string
	AppID   string
	EventID string
	Body    []byte
	// Lookup: another delivery of this event may have been placed in
	// another index; look the id up across every event index of the prefix
	// (and, in real time, in Recent) before writing it.
	Lookup bool
	Recent []string
}

// Builder builds documents for the indices of one prefix.
type Builder struct {
	prefix     string
	chain      enrichment.Chain
	place      Placement
	textCopies bool
}

// NewBuilder returns a Builder running chain on every event and placing
// each by place.
func NewBuilder(prefix string, chain enrichment.Chain, place Placement) *Builder {
	return &Builder{prefix: prefix, chain: chain, place: place}
}

// WithTextCopies makes b write the full-text copies of the fields that have
// one (metadata_text: metadata's values, for searching words inside them;
// eventdoc.Source.FillTextCopies). They cost OpenSearch CPU per event
// (services/enrich/README.md, ENRICH_METADATA_FULL_TEXT).
func (b *Builder) WithTextCopies(on bool) *Builder {
	b.textCopies = on
	return b
}

// Build returns the documents of every event in batch. ingestedAt is the only
// input that differs between deliveries, and it chooses neither id nor index.
// The index depends on the delivery only through received_at and sent_at,
// and only as Placement says.
// The header-derived fields of batch are bounded first (limitEnvelope), in
// place.
func (b *Builder) Build(batch *telemetryv1.EventBatch, ingestedAt time.Time) ([]Doc, error) {
	limitEnvelope(batch)
	docs := make([]Doc, 0, len(batch.Events))
	received := batch.GetReceivedAt().AsTime().UTC()
	var sent *time.Time
	if batch.SentAt != nil {
		s := batch.SentAt.AsTime().UTC()
		sent = &s
	}
	enrich := b.chain.ForBatch(batch)
	// One buffer for every document of the batch; each Body is a capped
	// slice of it (a later growth leaves earlier bodies where they are).
	buf := make([]byte, 0, len(batch.Events)*768)
	for _, e := range batch.Events {
		if e.ClientTimestamp == nil {
			return nil, fmt.Errorf("batch %s event %q: no client_timestamp", batch.BatchId, e.EventId)
		}
		ts := e.ClientTimestamp.AsTime().UTC()
		src := eventdoc.Source{
			DocID:           eventdoc.ID(batch.AppId, e.EventId),
			AppID:           batch.AppId,
			Timestamp:       ts,
			ClientTimestamp: ts,
			ReceivedAt:      received,
			SentAt:          sent,
			IngestedAt:      ingestedAt.UTC(),
		}
		// The event's own fields (event_id, user_id, ..., metadata, message).
		copyEventFields(&src, e)
		enrich(e, &src)
		// The index keeps a date to the millisecond (rounded down), so the
		// document does too: a query's from/to then selects exactly the
		// events it shows.
		src.Timestamp = src.Timestamp.Truncate(time.Millisecond)
		if b.textCopies {
			src.FillTextCopies()
		}
		start := len(buf)
		buf = src.AppendJSON(buf)
		body := buf[start:len(buf):len(buf)]
		index, lookup, recent := b.place.place(b.prefix, ts, src.Timestamp, received, sent)
		docs = append(docs, Doc{ID: src.DocID, Index: index, AppID: batch.AppId, EventID: e.EventId, Body: body,
			Lookup: lookup, Recent: recent})
	}
	return docs, nil
}
