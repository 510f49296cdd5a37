// Package suppression is the shared list of people whose events must not be
// stored any more (they asked to be deleted), kept in a NATS JetStream
// key-value bucket so that it survives restarts and every enrich instance
// sees the same list; and the handshake by which the query service learns
// that every running enrich instance applies a new entry.
//
// Entries are keyed by a SHA-256 of (app, kind, id), never by the id itself:
// the bucket tells whether an id is suppressed, not who is.
//
// The handshake (see services/query/README.md, "Deleting a user"): every
// enrich instance publishes, in the status bucket, its settled revision —
// the lowest suppression revision that any batch it still holds was
// filtered with (or the revision it has applied, when it holds none) — and
// a lease: it makes no OpenSearch write after the lease without renewing it.
// Once every instance whose lease has not run out reports a settled revision
// at or above the entry's revision, no document of that person can be
// written any more, except by a batch filtered with the entry in place.
package suppression

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/evtrack/telemetry/platform/pseudonym"
)

// DefaultBucket is the suppression bucket's default name; its status bucket
// is the name with StatusSuffix.
const DefaultBucket = "TELEMETRY_SUPPRESSIONS"

// StatusSuffix names the status bucket of a suppression bucket.
const StatusSuffix = "_STATUS"

// Kind is which id of a person an entry names.
type Kind string

// The ids a person has in an event.
const (
	KindUserID      Kind = "user_id"
	KindAnonymousID Kind = "anonymous_id"
)

// Subject is one id of a person within an app.
type Subject struct {
	AppID string
	Kind  Kind
	ID    string
}

// WithPseudonyms returns s and, for each key of ring (current and
// previous), the subject of the same app and kind whose id is s's pseudonym
// under that key. Where enrich pseudonymises a kind of id, an event arrives
// with the id (s) but every document built from it holds the pseudonym: a
// dead letter keeps that document, and the dead-letter replay can only
// recognise a deleted person's letters by these subjects.
func (s Subject) WithPseudonyms(ring pseudonym.Ring) []Subject {
	out := []Subject{s}
	for _, id := range ring.Candidates(s.ID) {
		if id != s.ID {
			out = append(out, Subject{AppID: s.AppID, Kind: s.Kind, ID: id})
		}
	}
	return out
}

// Key is the bucket key of s: "s" + hex SHA-256 of the length-prefixed
// app, kind and id (so no two subjects share a key, and the key does not
// reveal the id).
func (s Subject) Key() string { return "s" + Fingerprint(s.AppID, string(s.Kind), s.ID) }

// Fingerprint is the hex SHA-256 of the length-prefixed parts; the audit
// trail and the deletion jobs name a person by it once the job is over.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Entry is the value of a suppression key.
type Entry struct {
	// Until: events of the subject are dropped until then.
	Until time.Time `json:"until"`
	// JobID is the deletion job that recorded it.
	JobID string `json:"job_id,omitempty"`
}

// Status is what an enrich instance publishes under its own key of the
// status bucket.
type Status struct {
	// Settled: every batch the instance still holds, or takes from now on,
	// is filtered with a suppression list at or above this revision.
	Settled uint64 `json:"settled"`
	// LeaseUntil: the instance makes no OpenSearch write after this time
	// unless it has published its status again.
	LeaseUntil time.Time `json:"lease_until"`
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode suppression value: %w", err)
	}
	return b, nil
}

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("decode suppression entry: %w", err)
	}
	if e.Until.IsZero() {
		return e, errors.New("decode suppression entry: no until")
	}
	return e, nil
}
