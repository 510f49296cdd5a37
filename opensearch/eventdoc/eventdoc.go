// Package eventdoc is the shape of an event document in OpenSearch and the
// rules that place it: the contract between the enrich service, which writes
// documents, and the query service, which reads them. Its fields match the
// strict mapping in templates/events-template.json.
package eventdoc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

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
	t = t.UTC()
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		return prefix + "-" + t.Format("2006.01.02")
	}
	// Written digit by digit: enrich names an index for every document.
	var b strings.Builder
	b.Grow(len(prefix) + len("-2006.01.02"))
	b.WriteString(prefix)
	b.Write([]byte{'-', byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10),
		'.', byte('0' + int(m)/10), byte('0' + int(m)%10), '.', byte('0' + d/10), byte('0' + d%10)})
	return b.String()
}

// Pattern matches every daily index of prefix.
func Pattern(prefix string) string { return prefix + "-*" }

// DeadLetterPrefix starts the names of prefix's dead-letter indices (and
// was, alone, the name of its single dead-letter index before they were
// daily). It does not start with prefix, so Pattern never matches a dead
// letter and event searches never see one.
func DeadLetterPrefix(prefix string) string { return "deadletter-" + prefix }

// DeadLetterIndex is the daily index, deadletter-<prefix>-YYYY.MM.DD of the
// UTC day failedAt, where documents that could not be written at failedAt
// are kept with the reason. Daily, so that retention deletes whole indices
// by the date in their name (the cluster has no delete-by-query).
func DeadLetterIndex(prefix string, failedAt time.Time) string {
	return IndexName(DeadLetterPrefix(prefix), failedAt)
}

// DeadLetterPattern matches every dead-letter index of prefix.
func DeadLetterPattern(prefix string) string { return Pattern(DeadLetterPrefix(prefix)) }

// AuditIndex is the daily audit index (audit-prefix-YYYY.MM.DD of t's UTC
// date) where the query service records who read what at t. One index per
// day lets the audit trail's retention delete whole indices by the date in
// their name.
func AuditIndex(prefix string, t time.Time) string { return IndexName(AuditPrefix(prefix), t) }

// AuditPattern matches every daily audit index of prefix (and no event
// index: those start with prefix itself).
func AuditPattern(prefix string) string { return Pattern(AuditPrefix(prefix)) }

// AuditDayOf parses the date out of a daily audit index name of prefix.
func AuditDayOf(prefix, index string) (time.Time, bool) { return DayOf(AuditPrefix(prefix), index) }

// AuditPrefix starts the names of prefix's daily audit indices (and was,
// alone, the name of its single audit index of earlier versions).
func AuditPrefix(prefix string) string { return "audit-" + prefix }

// DayOf parses the date out of a daily index name of prefix.
func DayOf(prefix, index string) (time.Time, bool) {
	if len(index) != len(prefix)+11 || index[:len(prefix)+1] != prefix+"-" {
		return time.Time{}, false
	}
	t, err := time.Parse("2006.01.02", index[len(prefix)+1:])
	return t, err == nil
}

// Expired reports whether index is a daily index of prefix whose day, read
// from its name (never its creation date), ended more than keep before
// now: the one retention rule of the daily event, dead-letter and audit
// indices. Nothing expires with keep 0 (or less), nor an index of another
// name.
func Expired(prefix, index string, keep time.Duration, now time.Time) bool {
	day, ok := DayOf(prefix, index)
	return keep > 0 && ok && day.Add(24*time.Hour).Before(now.Add(-keep))
}

// DeadLetter is a dead-letter document.
type DeadLetter struct {
	DocID       string    `json:"doc_id"`
	AppID       string    `json:"app_id"`
	EventID     string    `json:"event_id"`
	Index       string    `json:"index"`
	Status      int       `json:"status"`
	ErrorType   string    `json:"error_type"`
	ErrorReason string    `json:"error_reason"`
	FailedAt    time.Time `json:"failed_at"`
	// Deliveries is how often its message had been delivered when the
	// document was given up on (absent: refused at the first try).
	Deliveries int `json:"deliveries,omitempty"`
	// StreamSequence is the message's sequence in the JetStream stream,
	// where it stays until the stream's limits remove it.
	StreamSequence uint64 `json:"stream_sequence,omitempty"`
	// Document is the refused document, unless it was too large for any
	// request (DocumentOmitted, with its size in DocumentBytes).
	Document        json.RawMessage `json:"document,omitempty"`
	DocumentOmitted bool            `json:"document_omitted,omitempty"`
	DocumentBytes   int             `json:"document_bytes,omitempty"`
}
