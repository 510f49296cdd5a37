// Package eventdoc is the shape of an event document in OpenSearch and the
// rules that place it: the contract between the enrich service, which writes
// documents, and the query service, which reads them. Its fields match the
// strict mapping in templates/events-template.json.
package eventdoc

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Source is an indexed event document.
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
// URL-safe, so ids of any length or alphabet fit OpenSearch's _id limits and
// the same event always gets the same id.
func ID(appID, eventID string) string {
	h := sha256.New()
	h.Write([]byte(appID))
	h.Write([]byte{0})
	h.Write([]byte(eventID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// IndexName is prefix-YYYY.MM.DD of t's UTC date: the daily index an event
// with timestamp t lives in.
func IndexName(prefix string, t time.Time) string {
	return prefix + "-" + t.UTC().Format("2006.01.02")
}

// Pattern matches every daily index of prefix.
func Pattern(prefix string) string { return prefix + "-*" }
