package enrichment

import (
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// ClockSkewConfig bounds what the device's clock may claim.
type ClockSkewConfig struct {
	// MaxSkew: a device clock further than this from the server's is flagged.
	MaxSkew time.Duration
	// MaxFuture: a corrected time later than received_at plus this is
	// implausible and replaced by received_at.
	MaxFuture time.Duration
	// MaxAge: a corrected time older than received_at minus this (30 days,
	// or the retention if shorter) is replaced by received_at, so a device
	// with a reset clock cannot create indices for arbitrary past days.
	MaxAge time.Duration
}

// ClockSkew puts events on the server's timeline. With the batch's sent_at,
// the device clock's offset is sent_at − received_at and each event's
// timestamp is client_timestamp minus that offset; without it, the client's
// timestamp is used as it is. client_timestamp is always kept unchanged.
type ClockSkew struct{ cfg ClockSkewConfig }

// NewClockSkew returns the step.
func NewClockSkew(cfg ClockSkewConfig) ClockSkew { return ClockSkew{cfg: cfg} }

// ForBatch implements Step.
func (c ClockSkew) ForBatch(b *telemetryv1.EventBatch) func(*telemetryv1.Event, *eventdoc.Source) {
	received := b.GetReceivedAt().AsTime()
	var skew time.Duration
	var skewMs *int64
	skewed := false
	if b.GetSentAt() != nil {
		skew = b.GetSentAt().AsTime().Sub(received)
		ms := skew.Milliseconds()
		skewMs = &ms
		skewed = skew > c.cfg.MaxSkew || -skew > c.cfg.MaxSkew
	}
	return func(_ *telemetryv1.Event, d *eventdoc.Source) {
		ts := d.ClientTimestamp.Add(-skew)
		if ts.After(received.Add(c.cfg.MaxFuture)) || ts.Before(received.Add(-c.cfg.MaxAge)) {
			ts = received
			d.TimestampClamped = true
		}
		d.Timestamp = ts.UTC()
		d.ClockSkewMs = skewMs
		d.ClockSkewed = skewed
	}
}
