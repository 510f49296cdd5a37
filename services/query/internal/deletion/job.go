// Package deletion is the use case of deleting a person's data: a request
// records the person on the suppression list (so enrich drops their events
// from then on) and a job; a runner in every query replica claims jobs,
// waits until every enrich instance applies the suppression, then deletes
// the person's documents page by page, saving its progress in the job after
// each page, so a job survives a restart of the replica running it.
package deletion

import (
	"context"
	"errors"
	"time"

	"github.com/evtrack/telemetry/platform/suppression"
)

// States of a job.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateCompleted = "completed"
)

// Phases of a running job, in order.
const (
	PhaseWaitingForEnrich    = "waiting_for_enrich"
	PhaseDeletingEvents      = "deleting_events"
	PhaseDeletingDeadLetters = "deleting_dead_letters"
	PhaseDone                = "done"
)

// Person is whose documents a job deletes: one app, and the ids they have
// in it (either may be empty, not both).
type Person struct {
	AppID       string
	UserID      string
	AnonymousID string
}

// Subjects are the person's entries on the suppression list.
func (p Person) Subjects() []suppression.Subject {
	var out []suppression.Subject
	if p.UserID != "" {
		out = append(out, suppression.Subject{AppID: p.AppID, Kind: suppression.KindUserID, ID: p.UserID})
	}
	if p.AnonymousID != "" {
		out = append(out, suppression.Subject{AppID: p.AppID, Kind: suppression.KindAnonymousID, ID: p.AnonymousID})
	}
	return out
}

// Fingerprint names the person without their ids (the same for the same
// app and ids): the audit trail and a completed job keep only this.
func (p Person) Fingerprint() string {
	return suppression.Fingerprint(p.AppID, p.UserID, p.AnonymousID)
}

// IDFingerprint names one id of the person in the audit trail ("" for none).
func IDFingerprint(app string, kind suppression.Kind, id string) string {
	if id == "" {
		return ""
	}
	return "sha256:" + suppression.Fingerprint(app, string(kind), id)
}

// Cursor is where the scan of the dead-letter indices stands: the index
// being read and the last document id read in it.
type Cursor struct {
	Index string `json:"index,omitempty"`
	After string `json:"after,omitempty"`
}

// Job is a deletion, as stored. The person's ids are kept only while the
// job runs (it needs them to find their documents) and removed when it
// completes; Subject, their fingerprint, stays.
type Job struct {
	ID          string `json:"job_id"`
	AppID       string `json:"app_id"`
	UserID      string `json:"user_id,omitempty"`
	AnonymousID string `json:"anonymous_id,omitempty"`
	// Subject is Person.Fingerprint: a second request for the same person
	// finds the job running.
	Subject string `json:"subject"`
	// UserFingerprint, AnonymousFingerprint are IDFingerprint of each id.
	UserFingerprint      string `json:"user_fingerprint,omitempty"`
	AnonymousFingerprint string `json:"anonymous_fingerprint,omitempty"`
	State                string `json:"state"`
	Phase                string `json:"phase"`
	// Requester is the token fingerprint that asked.
	Requester       string     `json:"requester"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	SuppressedUntil time.Time  `json:"suppressed_until"`
	// SuppressionRevision is the suppression list's revision that holds
	// the person's entries; enrich must have settled at it.
	SuppressionRevision uint64 `json:"suppression_revision"`
	Total               int64  `json:"total"`
	DeletedEvents       int64  `json:"deleted_events"`
	DeletedDeadLetters  int64  `json:"deleted_dead_letters"`
	DeadLetters         Cursor `json:"dead_letters"`
	// Owner is the query replica running the job, until LeaseUntil.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	// LastError says why the job's last step failed (it is retried); ""
	// once a step succeeds. For operators reading the jobs index.
	LastError string `json:"last_error,omitempty"`
}

// Person is whom the job deletes.
func (j Job) Person() Person {
	return Person{AppID: j.AppID, UserID: j.UserID, AnonymousID: j.AnonymousID}
}

// Version is a stored job's version, for optimistic concurrency.
type Version struct {
	SeqNo       int64
	PrimaryTerm int64
}

// ErrNotFound: no job of that id. ErrConflict: the job changed since it was
// read (another replica took it).
var (
	ErrNotFound = errors.New("deletion job not found")
	ErrConflict = errors.New("deletion job changed meanwhile")
)

// ErrIndexClosed: an index that may hold the person's documents is closed,
// so they can be neither counted nor deleted. The step fails (and is
// retried) until the index is opened or deleted: a job that completed
// past it would leave the person's documents to come back when it opens.
var ErrIndexClosed = errors.New("index closed")

// Store keeps the jobs. Writes are visible to searches when they return.
type Store interface {
	Create(ctx context.Context, j Job) error
	Get(ctx context.Context, id string) (Job, Version, error)
	// Active returns a job for subject that is not completed.
	Active(ctx context.Context, subject string) (Job, bool, error)
	// Claimable lists jobs not completed whose lease ran out before now.
	Claimable(ctx context.Context, now time.Time) ([]string, error)
	// Update writes j if the stored job is still at v.
	Update(ctx context.Context, j Job, v Version) (Version, error)
}

// Suppressions is the shared suppression list (platform/suppression).
type Suppressions interface {
	Suppress(ctx context.Context, subjects []suppression.Subject, until time.Time, jobID string) (uint64, error)
	Unsettled(ctx context.Context, rev uint64, now time.Time, margin time.Duration) ([]string, error)
}

// Documents finds and deletes a person's documents. Every read fails with
// ErrIndexClosed while an index it has to read is closed.
type Documents interface {
	// Refresh makes every document written so far visible to searches.
	Refresh(ctx context.Context) error
	// CountEvents counts the person's event documents.
	CountEvents(ctx context.Context, p Person) (int64, error)
	// DeleteEvents searches up to n of the person's event documents,
	// deletes them and makes the deletion visible to searches. found is
	// how many the search found: 0, and only 0, means none is left. gone is
	// how many of those are gone after it: deleted by it, or already gone
	// (a 404: retention deleted their index between the search and the
	// delete, or an earlier attempt deleted them). gone may be 0 while
	// found is not: that page says nothing about the other indices.
	DeleteEvents(ctx context.Context, p Person, n int) (found, gone int, err error)
	// DeadLetters reads up to n dead letters after cur, deletes those of
	// the person (unless count only) and returns how many matched and where
	// to go on; done when every dead-letter index has been read.
	DeadLetters(ctx context.Context, p Person, cur Cursor, n int, countOnly bool) (matched int, next Cursor, done bool, err error)
}

// Auditor records a job's completion in the audit trail.
type Auditor interface {
	Completed(ctx context.Context, j Job)
}
