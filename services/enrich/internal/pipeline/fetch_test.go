package pipeline_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/services/enrich/internal/bulk"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// byteCountingFetcher passes fetches through and records the payload bytes
// each one delivered.
type byteCountingFetcher struct {
	pipeline.Fetcher
	mu      sync.Mutex
	fetches []int
}

func (f *byteCountingFetcher) Fetch(batch int, opts ...njs.FetchOpt) (njs.MessageBatch, error) {
	b, err := f.Fetcher.Fetch(batch, opts...)
	if err != nil {
		return b, err
	}
	out := make(chan njs.Msg, batch)
	go func() { // ends when the fetch does
		defer close(out)
		total := 0
		for m := range b.Messages() {
			total += len(m.Data())
			out <- m
		}
		if total > 0 {
			f.mu.Lock()
			f.fetches = append(f.fetches, total)
			f.mu.Unlock()
		}
	}()
	return countedBatch{b, out}, nil
}

func (f *byteCountingFetcher) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.fetches...)
}

type countedBatch struct {
	njs.MessageBatch
	out chan njs.Msg
}

func (b countedBatch) Messages() <-chan njs.Msg { return b.out }

// TestFetchIsBoundedByBytes: with large messages waiting, one fetch holds no
// more than FetchMaxBytes of them, however many messages FetchBatch allows,
// and every message is still indexed.
func TestFetchIsBoundedByBytes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, njs.StreamConfig{MaxMsgSize: 256 << 10})
	const messages, perMessage = 8, 50
	received := time.Now().UTC().Add(-time.Hour)
	for i := range messages {
		b := &telemetryv1.EventBatch{BatchId: fmt.Sprint(i), AppId: "app", ReceivedAt: timestamppb.New(received)}
		for j := range perMessage {
			b.Events = append(b.Events, &telemetryv1.Event{EventId: fmt.Sprintf("e%d-%d", i, j), EventName: "x",
				ClientTimestamp: timestamppb.New(received), Message: strings.Repeat("m", 2000)})
		}
		h.publish(t, b)
	}
	cons := h.consumer(t, 30*time.Second)
	counting := &byteCountingFetcher{Fetcher: cons}
	cfg := h.config()
	cfg.FetchMaxBytes = 250 << 10 // room for two of these ~100 KB messages, not three
	h.run(t, counting, bulk.NewIndexer(h.osc), cfg)
	h.waitDrained(t, cons)
	if n := h.count(t); n != messages*perMessage {
		t.Fatalf("%d documents, want %d", n, messages*perMessage)
	}
	sizes := counting.sizes()
	largest := 0
	for _, s := range sizes {
		largest = max(largest, s)
	}
	t.Logf("payload bytes per fetch: %v", sizes)
	if largest > cfg.FetchMaxBytes || len(sizes) < messages/2 {
		t.Fatalf("fetches delivered %v bytes; want each at most %d (so at least %d fetches)", sizes, cfg.FetchMaxBytes, messages/2)
	}
}
