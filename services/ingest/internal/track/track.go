// Package track is the ingest use case: validate a decoded batch, publish the
// valid events durably as one EventBatch, and report what happened to each.
// The HTTP and gRPC edges both call it, so they behave the same.
package track

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
)

// Publisher stores a batch durably; it returns only once the broker has
// acknowledged it (or failed to). ErrOverloaded means it refused to start;
// ErrTooLarge that the broker can never take a message this large.
// Duplicate reports that the broker already held a batch of this id, stored
// by an earlier request.
type Publisher interface {
	PublishBatch(ctx context.Context, batch *telemetryv1.EventBatch) (duplicate bool, err error)
}

// ErrTooLarge is returned by a Publisher for a batch larger than the broker
// accepts.
var ErrTooLarge = errors.New("batch larger than the broker accepts")

// ErrFull is returned by a Publisher whose stream is at its limits and
// refuses new batches until older ones are consumed.
var ErrFull = errors.New("stream full")

// ErrOverloaded is returned by a Publisher that has too many publishes in
// flight to take another.
var ErrOverloaded = errors.New("too many publishes in flight")

// Facts are what the server observed about the request.
type Facts struct {
	AppID     string
	ClientIP  string
	UserAgent string
}

// Options configure a Tracker.
type Options struct {
	Limits     Limits
	RateLimit  *RateLimiter // nil: no rate limit
	RetryAfter time.Duration
	Metrics    *metrics.Ingest
}

// Tracker runs the use case.
type Tracker struct {
	pub  Publisher
	opts Options
	now  func() time.Time
}

// NewTracker returns a Tracker publishing through pub.
func NewTracker(pub Publisher, opts Options) *Tracker {
	return &Tracker{pub: pub, opts: opts, now: time.Now}
}

// Track validates req and publishes its valid events. It returns a *Error for
// whole-request failures: no valid event (KindInvalid, with the per-event
// errors in the Result), too many events (KindTooLarge), rate limited,
// overloaded, or the batch could not be stored (KindUnavailable). Whenever
// it returns an error nothing was accepted.
func (t *Tracker) Track(ctx context.Context, f Facts, req Request) (Result, error) {
	lim := t.opts.Limits
	if len(req.Events) > lim.MaxEvents {
		return Result{}, &Error{Kind: KindTooLarge, Code: "too_many_events",
			Message: fmt.Sprintf("%d events in one batch; at most %d", len(req.Events), lim.MaxEvents)}
	}
	if len(req.Events) == 0 {
		return Result{Errors: []EventError{}}, &Error{Kind: KindInvalid, Code: "no_events", Message: "the batch has no events"}
	}
	events, res := Validate(req.Events, lim)
	// Rejections are counted only with a final answer (this 400, or the
	// batch stored for the first time): a 429 or 503 lists none, and the
	// client sends the same events again.
	countRejected := func() {
		for _, e := range res.Errors {
			t.opts.Metrics.Events.WithLabelValues("rejected", metrics.Reason(e.Field)).Inc()
		}
	}
	if len(events) == 0 {
		countRejected()
		return res, &Error{Kind: KindInvalid, Code: "no_valid_events", Message: "no event in the batch is valid; see errors"}
	}
	now := t.now()
	if ok, wait := t.opts.RateLimit.Take(f.AppID, len(events), now); !ok {
		return Result{}, &Error{Kind: KindRateLimited, Code: "rate_limited",
			Message: fmt.Sprintf("app %s is over its rate limit; retry later", f.AppID), RetryAfter: wait}
	}
	batch := &telemetryv1.EventBatch{
		BatchId:    BatchID(f.AppID, events),
		AppId:      f.AppID,
		ReceivedAt: timestamppb.New(now),
		ClientIp:   f.ClientIP,
		UserAgent:  capHeader(f.UserAgent, MaxUserAgentBytes),
		Events:     events,
	}
	if !req.SentAt.IsZero() {
		batch.SentAt = timestamppb.New(req.SentAt)
	}
	duplicate, err := t.pub.PublishBatch(ctx, batch)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return Result{}, &Error{Kind: KindTooLarge, Code: "batch_too_large",
				Message: "the batch is larger than the broker's message limit; send fewer or smaller events", Err: err}
		}
		if errors.Is(err, ErrFull) {
			return Result{}, &Error{Kind: KindUnavailable, Code: "stream_full",
				Message: "the event stream is full until stored events are indexed; nothing was accepted, retry later", Err: err, RetryAfter: t.opts.RetryAfter}
		}
		if errors.Is(err, ErrOverloaded) {
			return Result{}, &Error{Kind: KindOverloaded, Code: "overloaded",
				Message: "too many batches waiting to be stored; retry later", Err: err, RetryAfter: t.opts.RetryAfter}
		}
		return Result{}, &Error{Kind: KindUnavailable, Code: "publish_failed",
			Message: "the events could not be stored; nothing was accepted, retry later", Err: err, RetryAfter: t.opts.RetryAfter}
	}
	if duplicate {
		// A retry of a request already stored: nothing new was stored, and
		// the client is told so (every valid event was stored before; its
		// rejections were counted then).
		res.Duplicates += res.Accepted
		res.Accepted = 0
	} else {
		countRejected()
	}
	t.opts.Metrics.Events.WithLabelValues("accepted", "").Add(float64(res.Accepted))
	if res.Duplicates > 0 {
		t.opts.Metrics.Events.WithLabelValues("duplicate", "").Add(float64(res.Duplicates))
	}
	return res, nil
}

// BatchID is a stable hash of the app id and the batch's event ids: the same
// request retried gets the same id, which the stream uses to drop the copy.
// Every id is length-prefixed, so no two different lists of ids hash the
// same input (["a\x00b"] and ["a", "b"] differ).
func BatchID(appID string, events []*telemetryv1.Event) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	write(appID)
	for _, e := range events {
		write(e.EventId)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MaxUserAgentBytes caps the user agent kept with a batch, whichever edge
// it arrived through.
const MaxUserAgentBytes = 512

// capHeader cuts a header-derived value to at most n bytes, on a character
// boundary, and replaces invalid UTF-8.
func capHeader(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
