// Package document turns the events of a batch into OpenSearch documents.
//
// Everything here is a pure function of the batch: the same message, however
// often it is redelivered, yields the same document id in the same index, which
// is what makes `create` writes exactly-once in effect.
package document

import (
	"encoding/json"
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// Doc is one document ready for a bulk `create`.
type Doc struct {
	ID    string
	Index string
	Body  []byte
}

// Build returns the documents of every event in batch. ingestedAt is the only
// input that differs between deliveries, and it does not choose id or index.
func Build(prefix string, batch *telemetryv1.EventBatch, ingestedAt time.Time) ([]Doc, error) {
	docs := make([]Doc, 0, len(batch.Events))
	received := batch.GetReceivedAt().AsTime().UTC()
	var sent *time.Time
	if batch.SentAt != nil {
		s := batch.SentAt.AsTime().UTC()
		sent = &s
	}
	for _, e := range batch.Events {
		if e.ClientTimestamp == nil {
			return nil, fmt.Errorf("batch %s event %q: no client_timestamp", batch.BatchId, e.EventId)
		}
		ts := e.ClientTimestamp.AsTime().UTC()
		src := eventdoc.Source{
			DocID:           eventdoc.ID(batch.AppId, e.EventId),
			AppID:           batch.AppId,
			EventID:         e.EventId,
			UserID:          e.UserId,
			AnonymousID:     e.AnonymousId,
			SessionID:       e.SessionId,
			EventName:       e.EventName,
			Timestamp:       ts,
			ClientTimestamp: ts,
			ReceivedAt:      received,
			SentAt:          sent,
			IngestedAt:      ingestedAt.UTC(),
			AppVersion:      e.AppVersion,
			DeviceOS:        e.DeviceOs,
			Metadata:        e.Metadata,
			Message:         e.Message,
		}
		body, err := json.Marshal(src)
		if err != nil {
			return nil, fmt.Errorf("encode event %q of batch %s: %w", e.EventId, batch.BatchId, err)
		}
		docs = append(docs, Doc{ID: src.DocID, Index: eventdoc.IndexName(prefix, src.Timestamp), Body: body})
	}
	return docs, nil
}
