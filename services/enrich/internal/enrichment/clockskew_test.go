package enrichment

import (
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestClockSkew(t *testing.T) {
	received := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cfg := ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: 10 * time.Minute, MaxAge: 30 * 24 * time.Hour}
	tests := []struct {
		name        string
		sentAt      *time.Time
		client      time.Time
		wantTS      time.Time
		wantSkewMs  *int64
		wantSkewed  bool
		wantClamped bool
	}{
		{"no sent_at: client time kept", nil, received.Add(-time.Hour), received.Add(-time.Hour), nil, false, false},
		{"clock right", ptr(received), received.Add(-5 * time.Second), received.Add(-5 * time.Second), i64(0), false, false},
		{"clock 2h ahead", ptr(received.Add(2 * time.Hour)), received.Add(2*time.Hour - 30*time.Second), received.Add(-30 * time.Second), i64(7200000), true, false},
		{"clock 3 days behind", ptr(received.Add(-72 * time.Hour)), received.Add(-72*time.Hour - time.Minute), received.Add(-time.Minute), i64(-259200000), true, false},
		{"small skew not flagged", ptr(received.Add(30 * time.Second)), received, received.Add(-30 * time.Second), i64(30000), false, false},
		{"queued offline for a day", ptr(received), received.Add(-24 * time.Hour), received.Add(-24 * time.Hour), i64(0), false, false},
		{"far future clamped", nil, received.Add(48 * time.Hour), received, nil, false, true},
		{"slightly future kept", nil, received.Add(5 * time.Minute), received.Add(5 * time.Minute), nil, false, false},
		{"1970 clamped", nil, time.Unix(0, 0).UTC(), received, nil, false, true},
		{"future after correction clamped", ptr(received.Add(-time.Hour)), received.Add(time.Hour), received, i64(-3600000), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &telemetryv1.EventBatch{ReceivedAt: timestamppb.New(received)}
			if tt.sentAt != nil {
				b.SentAt = timestamppb.New(*tt.sentAt)
			}
			d := &eventdoc.Source{ClientTimestamp: tt.client}
			NewClockSkew(cfg).ForBatch(b)(&telemetryv1.Event{}, d)
			if !d.Timestamp.Equal(tt.wantTS) || d.ClockSkewed != tt.wantSkewed || d.TimestampClamped != tt.wantClamped {
				t.Errorf("timestamp %v skewed %v clamped %v; want %v %v %v", d.Timestamp, d.ClockSkewed, d.TimestampClamped, tt.wantTS, tt.wantSkewed, tt.wantClamped)
			}
			if (d.ClockSkewMs == nil) != (tt.wantSkewMs == nil) || (d.ClockSkewMs != nil && *d.ClockSkewMs != *tt.wantSkewMs) {
				t.Errorf("skew %v, want %v", deref(d.ClockSkewMs), deref(tt.wantSkewMs))
			}
			if !d.ClientTimestamp.Equal(tt.client) {
				t.Errorf("client_timestamp changed to %v", d.ClientTimestamp)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }
func i64(v int64) *int64         { return &v }
func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
