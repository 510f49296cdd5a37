package document

import (
	"time"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// Placement chooses the daily index of an event so that every delivery of
// it — a redelivery, or a client's retry of the same (app_id, event_id) in
// a new batch, whenever it arrives — is written to the same index, where
// `create` keeps the first; or, where that cannot be known from the
// delivery alone, asks for a look-up across every index first.
//
// An event whose raw client_timestamp (what the device sends again,
// unchanged, on every retry) is plausible for the delivery — within
// [received_at − MaxAge, received_at + MaxFuture] — from a device whose clock
// is not far off goes to the index of client_timestamp's UTC day: the same
// for every such delivery. Any other event is looked up first, and goes to
// the index of its document's timestamp (skew-corrected, clamped to
// received_at when implausible), so that the index's day is the
// timestamp's day: its time is implausible (a reset or far-off clock), or
// the batch's sent_at puts the device clock more than MaxFuture/2 off — an
// earlier delivery may have found the time more than MaxFuture in the
// future, and the client day could be days away from the event's time.
type Placement struct {
	MaxAge    time.Duration
	MaxFuture time.Duration
}

// place returns the index of an event of prefix with raw client time
// client and document timestamp timestamp, in a batch received at received
// and (if sent is not nil) sent at sent by the device's clock; whether it
// must be looked up before it is written; and, if so, the other indices an
// earlier delivery written a moment ago (not yet visible to a search) would
// most likely be in.
func (p Placement) place(prefix string, client, timestamp, received time.Time, sent *time.Time) (index string, lookup bool, recent []string) {
	plausible := p.plausible(client, received)
	offClock := sent != nil && (sent.Sub(received) > p.MaxFuture/2 || received.Sub(*sent) > p.MaxFuture/2)
	if plausible && !offClock {
		return eventdoc.IndexName(prefix, client), false, nil
	}
	if !p.plausible(timestamp, received) { // the clock-skew step clamps it so; do not rely on it
		timestamp = received
	}
	index = eventdoc.IndexName(prefix, timestamp)
	seen := map[string]bool{index: true}
	for _, t := range []time.Time{client, received, received.Add(-24 * time.Hour), timestamp.Add(-24 * time.Hour), timestamp.Add(24 * time.Hour)} {
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			continue
		}
		if name := eventdoc.IndexName(prefix, t); !seen[name] {
			seen[name] = true
			recent = append(recent, name)
		}
	}
	return index, true, recent
}

func (p Placement) plausible(t, received time.Time) bool {
	return !t.Before(received.Add(-p.MaxAge)) && !t.After(received.Add(p.MaxFuture))
}
