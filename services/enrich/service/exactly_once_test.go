package service

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/testenv"
)

// delivery is one batch carrying an event, as ingest publishes it: the
// server's received_at and the device's sent_at of that request.
type delivery struct {
	received time.Time
	sent     *time.Time // nil: the client sent none
}

// TestRetriesAcrossDaysAreIndexedOnce: a client sends the same (app_id,
// event_id) again in a new batch (its retry after a lost answer), with
// received_at and sent_at of the new request; whatever day the retry
// arrives on, there is one document. Counted by event_id across every
// daily index of the prefix. received_at and sent_at are chosen by the
// test (ingest sets them in the batch), so the days are fixed.
func TestRetriesAcrossDaysAreIndexedOnce(t *testing.T) {
	t.Parallel()
	e := startEnrich(t)
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	next := day.Add(24 * time.Hour)
	at := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		name     string
		client   time.Time
		together bool // deliveries published back to back, not waiting for the first to be indexed
		deliver  []delivery
	}{
		{
			// The device's clock stepped back 1.5 s between the two sends
			// (or the network delays differ): the corrected times of the
			// two deliveries fall on either side of midnight.
			name:   "retried across midnight",
			client: day.Add(24*time.Hour - 500*time.Millisecond), // 23:59:59.5 on day D
			deliver: []delivery{
				{received: next.Add(-100 * time.Millisecond), sent: at(next.Add(-100 * time.Millisecond))}, // 23:59:59.9
				{received: next.Add(500 * time.Millisecond), sent: at(next.Add(-time.Second))},             // 00:00:00.5 on D+1
			},
		},
		{
			name:   "clamped (reset clock), retried two days later",
			client: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			deliver: []delivery{
				{received: day.Add(12 * time.Hour)},
				{received: day.Add(60 * time.Hour)},
			},
		},
		{
			name:   "clamped (far future), retried two days later",
			client: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
			deliver: []delivery{
				{received: day.Add(12 * time.Hour), sent: at(day.Add(12 * time.Hour))},
				{received: day.Add(60 * time.Hour), sent: at(day.Add(60 * time.Hour))},
			},
		},
		{
			// Published back to back: the second is processed before a
			// refresh could show the first to a search (or in the same
			// fetch), so only the real-time read of the day before, or the
			// batch's own de-duplication, can find it.
			name:     "clamped across midnight, the retry right behind",
			client:   time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
			together: true,
			deliver: []delivery{
				{received: next.Add(-100 * time.Millisecond)},
				{received: next.Add(500 * time.Millisecond)},
			},
		},
		{
			// The device's clock is 2 h ahead: its event at 01:00 on D+1
			// happened at 23:00 on D. Sent at once, its time is in the
			// future: it is looked up and placed on its timestamp's day
			// (D). Retried at 01:05 on D+1 its time is plausible, and only
			// because sent_at shows the clock still far off is it looked up
			// (rather than written to its own day, D+1).
			name:   "future-clamped, retried once no longer in the future",
			client: next.Add(time.Hour),
			deliver: []delivery{
				{received: next.Add(-time.Hour), sent: at(next.Add(time.Hour))},
				{received: next.Add(time.Hour + 5*time.Minute), sent: at(next.Add(3*time.Hour + 5*time.Minute))},
			},
		},
	}
	for i, tt := range tests {
		id := fmt.Sprintf("retried-%d", i)
		for j, d := range tt.deliver {
			b := &telemetryv1.EventBatch{BatchId: fmt.Sprintf("%s-%d", id, j), AppId: "app-test", ReceivedAt: timestamppb.New(d.received),
				Events: []*telemetryv1.Event{{EventId: id, UserId: "u1", EventName: "tap", ClientTimestamp: timestamppb.New(tt.client)}}}
			if d.sent != nil {
				b.SentAt = timestamppb.New(*d.sent)
			}
			e.publish(t, b, b.BatchId)
			if !tt.together && j == 0 {
				testenv.Eventually(t, 20*time.Second, tt.name+": first delivery indexed", func() bool {
					docs, err := e.query(t, e.prefix+"-*")
					return err == nil && countOf(docs, id) > 0
				})
			}
		}
	}
	e.waitDrained(t)
	docs := e.docs(t)
	for i, tt := range tests {
		if n := countOf(docs, fmt.Sprintf("retried-%d", i)); n != 1 {
			t.Errorf("%s: %d documents, want 1 (%v)", tt.name, n, indicesOf(docs, fmt.Sprintf("retried-%d", i)))
		}
	}
	if got := metricValue(metricsBody(t, e), "enrich_lookups_total"); got == 0 {
		t.Error("no document was looked up: the clamped cases did not take the look-up path")
	}
}

func countOf(docs []map[string]any, eventID string) int {
	return len(indicesOf(docs, eventID))
}

func indicesOf(docs []map[string]any, eventID string) []string {
	var out []string
	for _, d := range docs {
		if d["event_id"] == eventID {
			out = append(out, d["_index"].(string))
		}
	}
	return out
}
