// Package deadletter replays the documents OpenSearch refused. enrich keeps
// each one in the daily dead-letter index of the day it failed
// (deadletter-<prefix>-YYYY.MM.DD; deadletter-<prefix> before they were
// daily, still read) with OpenSearch's reason and the document as it was
// built; once the cause is fixed (a template change, a mapping put on the
// existing indices) the operator replays them: each is written with
// `create` under its original id into its original daily index, so a
// replay — or a second one — never makes a duplicate there. A document
// written (or found already there) leaves the dead-letter index; one
// refused again stays, with the new reason.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// Store is the port the replay reads and writes through (bulk.DeadLetters
// over OpenSearch): the dead-letter indices and the event indices.
type Store interface {
	// Letters returns up to size dead letters of indices (names or
	// patterns; missing ones hold nothing) matching f, ordered by document
	// id and then dead-letter index, starting after the letter after (nil:
	// from the first). A partial answer is an error: it would skip letters
	// for good.
	Letters(ctx context.Context, indices []string, f Filter, after *Letter, size int) ([]Letter, error)
	// Locate returns, of ids, those already written in an index matching
	// pattern, with that index.
	Locate(ctx context.Context, pattern string, ids []string) (map[string]string, error)
	// Write writes docs with `create` (an existing id is never replaced)
	// and returns what became of each, in order. An error: nothing is
	// known to be written.
	Write(ctx context.Context, docs []document.Doc) ([]Written, error)
	// Settle deletes the replayed letters from their dead-letter index and
	// writes the refused ones over theirs (with their new reason), and
	// returns an error unless every one of those changes was applied.
	Settle(ctx context.Context, replayed, refused []Letter) error
}

// Letter is a dead letter and the dead-letter index holding it.
type Letter struct {
	eventdoc.DeadLetter
	DeadLetterIndex string
}

// Outcome is what became of one document written back.
type Outcome int

const (
	// Created: written now.
	Created Outcome = iota + 1
	// Exists: a document with its id was already there.
	Exists
	// Refused: refused again, for what it contains or a reason of its
	// own; it stays a dead letter, with the new reason.
	Refused
	// Retry: the cluster cannot take it now; run the replay again later.
	Retry
)

// Written is the answer for one document written back.
type Written struct {
	Outcome   Outcome
	Status    int
	ErrorType string
	Reason    string
}

// Filter selects dead letters; empty fields match any.
type Filter struct {
	AppID     string
	ErrorType string // OpenSearch's error type, e.g. strict_dynamic_mapping_exception
}

// Report counts what a replay did.
type Report struct {
	Matched        int `json:"matched"`
	Replayed       int `json:"replayed"`
	AlreadyPresent int `json:"already_present"`
	StillRefused   int `json:"still_refused"`
	Expired        int `json:"expired"`
	NoDocument     int `json:"no_document"` // too large to have been kept: cannot be replayed
	// Suppressed: letters of people deleted on request (on the suppression
	// list), deleted instead of replayed.
	Suppressed int            `json:"suppressed"`
	Reasons    map[string]int `json:"still_refused_by_error_type,omitempty"`
}

// Replayer replays the dead letters of one index prefix.
type Replayer struct {
	store     Store
	prefix    string
	retention time.Duration
	pageSize  int
	now       func() time.Time
	sup       *suppression.Set
	// writeTimeout bounds each write (0: unbounded), so that one begun
	// while the lease covers it ends within it.
	writeTimeout time.Duration
}

// Suppress makes the replay delete, instead of writing back, the letters of
// people on set's list; it takes part in the deletions' handshake as an
// enrich instance does (platform/suppression): each write — writing a
// page's documents back, settling its letters — begins only while the
// lease covers it whole (asked before each, not once a page: the look-up
// and the write before it may each take up to a request timeout), and the
// page in hand holds its settled revision. writeTimeout bounds each write
// (set's WriteBound must cover it: enrich's bulk timeout).
func (r *Replayer) Suppress(set *suppression.Set, writeTimeout time.Duration) {
	r.sup, r.writeTimeout = set, writeTimeout
}

// errLeaseLapsed stops a replay before a write its suppression lease no
// longer covers.
var errLeaseLapsed = errors.New("the suppression status could not be published in time (NATS unreachable?): " +
	"stopped before a write its lease no longer covers; run the replay again later")

// write runs one write (do) if the suppression lease, if any, covers it
// whole, bounded by writeTimeout.
func (r *Replayer) write(ctx context.Context, do func(context.Context) error) error {
	if r.sup != nil && !r.sup.MayWrite() {
		return errLeaseLapsed
	}
	if r.writeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.writeTimeout)
		defer cancel()
	}
	return do(ctx)
}

// New returns a Replayer for prefix over store. Dead letters whose daily
// index is older than retention (0: keep for ever) are left alone: the
// retention would delete them again.
func New(store Store, prefix string, retention time.Duration) *Replayer {
	return &Replayer{store: store, prefix: prefix, retention: retention, pageSize: 500, now: time.Now}
}

// Replay replays the dead letters matching f, in pages; with dryRun it only
// counts them. It stops at the first page OpenSearch cannot take (429, 5xx,
// unreachable) and returns what was done so far with the error; running it
// again continues safely.
func (r *Replayer) Replay(ctx context.Context, f Filter, dryRun bool) (Report, error) {
	rep := Report{Reasons: map[string]int{}}
	// The daily dead-letter indices, and the single one of earlier versions.
	indices := []string{eventdoc.DeadLetterPattern(r.prefix), eventdoc.DeadLetterPrefix(r.prefix)}
	var after *Letter
	for {
		page, err := r.store.Letters(ctx, indices, f, after, r.pageSize)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			return rep, nil
		}
		after = &page[len(page)-1]
		rep.Matched += len(page)
		var due []Letter
		for _, l := range page {
			if r.expired(l.Index) {
				rep.Expired++
				continue
			}
			if l.DocumentOmitted || len(l.Document) == 0 {
				rep.NoDocument++
				continue
			}
			due = append(due, l)
		}
		if dryRun || len(due) == 0 {
			continue
		}
		if err := r.replayPage(ctx, due, &rep); err != nil {
			return rep, err
		}
	}
}

// replayPage replays one page, less the letters of suppressed people, which
// it deletes.
func (r *Replayer) replayPage(ctx context.Context, due []Letter, rep *Report) error {
	if r.sup == nil {
		return r.replay(ctx, due, nil, rep)
	}
	f := r.sup.Begin()
	defer f.Done()
	if !f.MayWrite() {
		return errLeaseLapsed
	}
	var keep, drop []Letter
	for _, l := range due {
		// Only what the check needs, each read on its own: a letter is
		// often one whose other fields OpenSearch refused (a date it could
		// not take), which must not hide these. received_at is when ingest
		// received it, in epoch milliseconds or, in a letter from before,
		// RFC 3339 (none or unreadable: before any end).
		var ids struct {
			UserID      string          `json:"user_id"`
			AnonymousID string          `json:"anonymous_id"`
			ReceivedAt  json.RawMessage `json:"received_at"`
		}
		_ = json.Unmarshal(l.Document, &ids)
		receivedAt, _ := eventdoc.ReadDate(ids.ReceivedAt)
		if f.Suppressed(l.AppID, ids.UserID, ids.AnonymousID, receivedAt) {
			drop = append(drop, l)
			continue
		}
		keep = append(keep, l)
	}
	rep.Suppressed += len(drop)
	return r.replay(ctx, keep, drop, rep)
}

// expired reports whether index is a daily index past the retention.
func (r *Replayer) expired(index string) bool {
	return eventdoc.Expired(r.prefix, index, r.retention, r.now())
}

// replay writes one page of dead letters to their indices and then
// deletes those written (or already there) from the dead-letter index and
// records the new reason of those refused again.
func (r *Replayer) replay(ctx context.Context, letters, drop []Letter, rep *Report) error {
	// The event may have been written since, by a later delivery placed in
	// another daily index (one placed by its arrival): look for it in every
	// event index first, as enrich does for such documents.
	ids := make([]string, len(letters))
	for i, l := range letters {
		ids[i] = l.DocID
	}
	found := map[string]string{}
	if len(ids) > 0 {
		var err error
		if found, err = r.store.Locate(ctx, eventdoc.Pattern(r.prefix), ids); err != nil {
			return fmt.Errorf("look up %d documents: %w", len(ids), err)
		}
	}
	var docs []document.Doc
	var sent []int // letters' positions of docs
	results := make([]Written, len(letters))
	for i, l := range letters {
		if _, ok := found[l.DocID]; ok {
			results[i] = Written{Outcome: Exists}
			continue
		}
		docs = append(docs, document.Doc{ID: l.DocID, Index: l.Index, Body: l.Document})
		sent = append(sent, i)
	}
	if len(docs) > 0 {
		var written []Written
		err := r.write(ctx, func(ctx context.Context) (err error) {
			written, err = r.store.Write(ctx, docs)
			return err
		})
		if err != nil {
			return fmt.Errorf("replay %d documents: %w", len(docs), err)
		}
		for j, i := range sent {
			results[i] = written[j]
		}
	}
	replayed := drop // deleted from the dead letters like those written back
	var refused []Letter
	retry := 0
	for i, res := range results {
		l := letters[i]
		switch res.Outcome {
		case Created:
			rep.Replayed++
			replayed = append(replayed, l)
		case Exists:
			rep.AlreadyPresent++
			replayed = append(replayed, l)
		case Refused:
			rep.StillRefused++
			rep.Reasons[res.ErrorType]++
			l.Status, l.ErrorType, l.ErrorReason, l.FailedAt = res.Status, res.ErrorType, res.Reason, r.now().UTC()
			refused = append(refused, l)
		default:
			retry++
		}
	}
	if len(replayed)+len(refused) > 0 {
		// A write too: a refused letter is written, document and all,
		// over its old one (which a deletion may have deleted meanwhile).
		err := r.write(ctx, func(ctx context.Context) error { return r.store.Settle(ctx, replayed, refused) })
		if err != nil {
			return fmt.Errorf("update dead letters: %w", err)
		}
	}
	if retry > 0 {
		return fmt.Errorf("OpenSearch asked to retry %d of %d documents (busy or failing); run the replay again later", retry, len(letters))
	}
	return nil
}
