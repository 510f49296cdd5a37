package pipeline_test

import (
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
)

// TestLookedUpBeforeARefresh: an event with an implausible time is placed
// by its arrival; its retry arrives three days later but is indexed right
// after the first copy — before a refresh could show that copy to the
// look-up's search (here refresh is off on those days' indices, so it never
// does), and on a day the real-time reads do not cover. It is still written
// once.
func TestLookedUpBeforeARefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, njs.StreamConfig{})
	day := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	first, retry := day, day.Add(3*24*time.Hour)
	for _, d := range []time.Time{first, retry} {
		testenv.PutJSON(t, h.osURL, "/"+eventdoc.IndexName(h.prefix, d), `{"settings":{"index.refresh_interval":"-1"}}`)
	}
	for i, received := range []time.Time{first, retry} {
		h.publish(t, &telemetryv1.EventBatch{BatchId: string(rune('a' + i)), AppId: "app", ReceivedAt: timestamppb.New(received),
			Events: []*telemetryv1.Event{{EventId: "reset-clock", EventName: "x", ClientTimestamp: timestamppb.New(time.Unix(0, 0))}}})
	}
	cons := h.consumer(t, 30*time.Second)
	cfg := h.config()
	cfg.FetchBatch = 1 // the two deliveries one after the other, not in one batch
	h.run(t, cons, bulk.NewIndexer(h.osc), cfg)
	h.waitDrained(t, cons)
	// The fault struck: a search still sees nothing of the first copy.
	var visible struct {
		Count int `json:"count"`
	}
	if code := testenv.GetJSON(t, h.osURL+"/"+eventdoc.Pattern(h.prefix)+"/_count", &visible); code != 200 || visible.Count != 0 {
		t.Fatalf("a search sees %d documents before the refresh (status %d): the look-up could have found the first copy by searching", visible.Count, code)
	}
	if n := h.count(t); n != 1 { // after a refresh
		t.Fatalf("%d documents, want 1", n)
	}
}
