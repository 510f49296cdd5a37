package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// crashAfterBulk indexes for real, then does not return until the test
// ends: the process "dies" between the bulk call and the acks. (When the
// test ends it returns an error, so the instance's goroutines can stop.)
type crashAfterBulk struct {
	pipeline.Indexer
	crashed atomic.Bool
	dead    chan struct{}
}

func (c *crashAfterBulk) Index(ctx context.Context, docs []document.Doc) ([]pipeline.ItemResult, error) {
	res, err := c.Indexer.Index(ctx, docs)
	if err == nil {
		c.crashed.Store(true)
		<-c.dead // never acks
		return nil, errors.New("the process died")
	}
	return res, err
}

// TestCrashBetweenBulkAndAck: the first enrich instance writes the documents
// and dies before acking; after AckWait a second instance gets the same
// messages again. Every event exists exactly once.
func TestCrashBetweenBulkAndAck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, njs.StreamConfig{})
	const events = 40
	received := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < 4; i++ {
		b := &telemetryv1.EventBatch{BatchId: fmt.Sprint(i), AppId: "app", ReceivedAt: timestamppb.New(received)}
		for j := 0; j < events/4; j++ {
			b.Events = append(b.Events, &telemetryv1.Event{EventId: fmt.Sprintf("e%d-%d", i, j), UserId: "u", EventName: "x",
				ClientTimestamp: timestamppb.New(received)})
		}
		h.publish(t, b)
	}
	cfg := h.config()
	cfg.FetchBatch, cfg.AckWait, cfg.RetryDelay, cfg.MaxDeliver = 10, 2*time.Second, time.Second, 20
	const ackWait = 2 * time.Second

	crashing := &crashAfterBulk{Indexer: bulk.NewIndexer(h.osc), dead: make(chan struct{})}
	// Cleanups run last registered first: the crashed instance's Index
	// returns, then the instance is stopped and waited for.
	testenv.Start(t, "crashing instance", h.pipeline(h.consumer(t, ackWait), crashing, cfg).Run)
	t.Cleanup(func() { close(crashing.dead) })
	testenv.Eventually(t, 20*time.Second, "the first instance indexing", crashing.crashed.Load)

	h.run(t, h.consumer(t, ackWait), bulk.NewIndexer(h.osc), cfg)
	h.waitDrained(t, h.consumer(t, ackWait))
	if n := h.count(t); n != events {
		t.Fatalf("%d documents after the crash and redelivery, want %d (one per event)", n, events)
	}
}
