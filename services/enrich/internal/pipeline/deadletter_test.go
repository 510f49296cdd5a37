package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// crashAfterDeadLetter writes dead letters for real, then does not return
// until the test ends: the process dies between the dead letter and the ack.
type crashAfterDeadLetter struct {
	pipeline.Indexer
	crashed atomic.Bool
	dead    chan struct{}
}

func (c *crashAfterDeadLetter) DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error {
	if err := c.Indexer.DeadLetter(ctx, index, letters); err != nil {
		return err
	}
	c.crashed.Store(true)
	<-c.dead
	return context.Canceled
}

// countRejected counts the documents OpenSearch refuses for what they hold.
type countRejected struct {
	pipeline.Indexer
	rejected atomic.Int64
}

func (c *countRejected) Index(ctx context.Context, docs []document.Doc) ([]pipeline.ItemResult, error) {
	res, err := c.Indexer.Index(ctx, docs)
	for _, r := range res {
		if r.Outcome == pipeline.Rejected {
			c.rejected.Add(1)
		}
	}
	return res, err
}

// TestDeadLetterRedeliveredAcrossMidnightIsKeptOnce: an instance
// dead-letters a refused document at 23:59:50 and dies before acking; the
// message comes back after midnight to another instance, OpenSearch refuses
// the document again, and the dead-letter indices still hold one letter for
// it, not one in each day's index.
func TestDeadLetterRedeliveredAcrossMidnightIsKeptOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, njs.StreamConfig{})
	beforeMidnight := time.Date(2026, 11, 20, 23, 59, 50, 0, time.UTC)
	afterMidnight := beforeMidnight.Add(20 * time.Second)
	at := beforeMidnight.Add(-time.Hour)
	// The event's day maps user_id as a number: the document is refused.
	testenv.PutJSON(t, h.osURL, "/"+eventdoc.IndexName(h.prefix, at), `{"mappings":{"properties":{"user_id":{"type":"long"}}}}`)
	h.publish(t, &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(at), Events: []*telemetryv1.Event{
		{EventId: "refused", UserId: "not-a-number", EventName: "x", ClientTimestamp: timestamppb.New(at)},
	}})
	cfg := h.config()
	const ackWait = 2 * time.Second
	cfg.AckWait = ackWait

	crashing := &crashAfterDeadLetter{Indexer: bulk.NewIndexer(h.osc), dead: make(chan struct{})}
	first := h.pipeline(h.consumer(t, ackWait), crashing, cfg)
	pipeline.SetClock(first, func() time.Time { return beforeMidnight })
	testenv.Start(t, "instance dying after the dead letter", first.Run)
	t.Cleanup(func() { close(crashing.dead) })
	testenv.Eventually(t, 20*time.Second, "the first instance dead-lettering", crashing.crashed.Load)

	counting := &countRejected{Indexer: bulk.NewIndexer(h.osc)}
	second := h.pipeline(h.consumer(t, ackWait), counting, cfg)
	pipeline.SetClock(second, func() time.Time { return afterMidnight })
	testenv.Start(t, "instance after midnight", second.Run)
	h.waitDrained(t, h.consumer(t, ackWait))
	if counting.rejected.Load() == 0 {
		t.Fatal("the redelivered document was not refused again: the fault did not strike")
	}
	letters := testenv.Count(t, h.osURL, eventdoc.DeadLetterPattern(h.prefix))
	if letters != 1 {
		t.Fatalf("%d dead letters for one refused document (%s and %s), want 1", letters,
			eventdoc.DeadLetterIndex(h.prefix, beforeMidnight), eventdoc.DeadLetterIndex(h.prefix, afterMidnight))
	}
}
