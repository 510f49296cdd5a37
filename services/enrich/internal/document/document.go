// Package document turns the events of a batch into OpenSearch documents.
//
// Everything here is a pure function of the batch: the same message, however
// often it is redelivered, yields the same document id in the same index, which
// is what makes `create` writes exactly-once in effect.
package document

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// Doc is one document ready for a bulk `create`.
type Doc struct {
	ID    string
	Index string
	Body  []byte
}

// Source is the indexed document; its fields match the mapping in
// opensearch/templates/events-template.json (which is strict).
type Source struct {
	DocID           string            `json:"doc_id"`
	AppID           string            `json:"app_id"`
	EventID         string            `json:"event_id"`
	UserID          string            `json:"user_id,omitempty"`
	AnonymousID     string            `json:"anonymous_id,omitempty"`
	SessionID       string            `json:"session_id,omitempty"`
	EventName       string            `json:"event_name"`
	Timestamp       time.Time         `json:"timestamp"`
	ClientTimestamp time.Time         `json:"client_timestamp"`
	ReceivedAt      time.Time         `json:"received_at"`
	SentAt          *time.Time        `json:"sent_at,omitempty"`
	IngestedAt      time.Time         `json:"ingested_at"`
	AppVersion      string            `json:"app_version,omitempty"`
	DeviceOS        string            `json:"device_os,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Message         string            `json:"message,omitempty"`
}

// ID derives the document id from the app and event ids: 128 bits of SHA-256,
// URL-safe, so ids of any length or alphabet fit OpenSearch's _id limits.
func ID(appID, eventID string) string {
	h := sha256.New()
	h.Write([]byte(appID))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// IndexName is prefix-YYYY.MM.DD of t's UTC date.
func IndexName(prefix string, t time.Time) string {
	return prefix + "-" + t.UTC().Format("2006.01.02")
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
		src := Source{
			DocID:           ID(batch.AppId, e.EventId),
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
		docs = append(docs, Doc{ID: src.DocID, Index: IndexName(prefix, src.Timestamp), Body: body})
	}
	return docs, nil
}
