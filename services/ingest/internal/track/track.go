// Package track is the ingest use case: validate a decoded batch, publish the
// valid events durably as one EventBatch, and report what happened to each.
package track

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Publisher stores a batch durably; it returns only once the broker has
// acknowledged it (or failed to).
type Publisher interface {
	PublishBatch(ctx context.Context, batch *telemetryv1.EventBatch) error
}

// Facts are what the server observed about the request.
type Facts struct {
	AppID     string
	ClientIP  string
	UserAgent string
}

// Tracker runs the use case.
type Tracker struct {
	pub    Publisher
	limits Limits
	now    func() time.Time
}

// NewTracker returns a Tracker publishing through pub.
func NewTracker(pub Publisher, limits Limits) *Tracker {
	return &Tracker{pub: pub, limits: limits, now: time.Now}
}

// Track validates req and publishes its valid events. It returns a *Error for
// whole-request failures: no valid event (KindInvalid, with the per-event
// errors in the Result), too many events (KindTooLarge), or the batch could not
// be stored (KindUnavailable: nothing was accepted).
func (t *Tracker) Track(ctx context.Context, f Facts, req Request) (Result, error) {
	if len(req.Events) > t.limits.MaxEvents {
		return Result{}, &Error{Kind: KindTooLarge, Code: "too_many_events",
			Message: fmt.Sprintf("%d events in one batch; at most %d", len(req.Events), t.limits.MaxEvents)}
	}
	if len(req.Events) == 0 {
		return Result{Errors: []EventError{}}, &Error{Kind: KindInvalid, Code: "no_events", Message: "the batch has no events"}
	}
	events, res := Validate(req.Events, t.limits)
	if len(events) == 0 {
		return res, &Error{Kind: KindInvalid, Code: "no_valid_events", Message: "no event in the batch is valid; see errors"}
	}
	batch := &telemetryv1.EventBatch{
		BatchId:    BatchID(f.AppID, events),
		AppId:      f.AppID,
		ReceivedAt: timestamppb.New(t.now()),
		ClientIp:   f.ClientIP,
		UserAgent:  f.UserAgent,
		Events:     events,
	}
	if !req.SentAt.IsZero() {
		batch.SentAt = timestamppb.New(req.SentAt)
	}
	if err := t.pub.PublishBatch(ctx, batch); err != nil {
		return Result{}, &Error{Kind: KindUnavailable, Code: "publish_failed",
			Message: "the events could not be stored; nothing was accepted, retry later", Err: err}
	}
	return res, nil
}

// BatchID is a stable hash of the app id and the batch's event ids: the same
// request retried gets the same id, which the stream uses to drop the copy.
func BatchID(appID string, events []*telemetryv1.Event) string {
	h := sha256.New()
	h.Write([]byte(appID))
	for _, e := range events {
		h.Write([]byte{0})
		h.Write([]byte(e.EventId))
	}
	return hex.EncodeToString(h.Sum(nil))
}
