package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// slowIndexer is scriptedIndexer taking each bulk request's whole timeout
// on a fake clock, and noting when each began and whether the instance's
// suppression lease covered it then.
type slowIndexer struct {
	scriptedIndexer
	advance func(time.Duration)
	took    time.Duration
	began   func() string
	starts  []string
}

func (s *slowIndexer) Index(ctx context.Context, docs []document.Doc) ([]ItemResult, error) {
	s.starts = append(s.starts, s.began())
	s.advance(s.took)
	return s.scriptedIndexer.Index(ctx, docs)
}

// TestNoBulkRequestOutsideTheSuppressionLease: an instance that cannot
// publish its suppression status (NATS unreachable from it) must start no
// write that its last published lease does not cover, for once the lease
// has run out a deletion may count and delete the person's documents
// without waiting for it. A batch whose documents take several bulk
// requests (a fetch holds up to ENRICH_FETCH_MAX_BYTES, a request
// ENRICH_BULK_MAX_BYTES or ENRICH_BULK_MAX_DOCS) must therefore be written
// only while each request is covered; the rest is released, for an
// instance whose lease is current. Before, the lease was only asked before
// the batch's first request, and the later ones went on past its end.
func TestNoBulkRequestOutsideTheSuppressionLease(t *testing.T) {
	t.Parallel()
	b := suppressionBuckets(t, "lease")
	cfg := testConfig()
	cfg.BulkMaxDocs = 1 // one request per document
	clock := testReceived
	start := clock
	const lease = 10 * time.Second
	// Published once, when it registers; never again (Run is not called):
	// its status cannot be written any more.
	set, stop, err := suppression.Watch(t.Context(), b, suppression.SetConfig{Heartbeat: time.Second, Lease: lease,
		WriteBound: 2 * cfg.BulkTimeout, Now: func() time.Time { return clock }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	idx := &slowIndexer{advance: func(d time.Duration) { clock = clock.Add(d) }, took: cfg.BulkTimeout,
		began: func() string { return fmt.Sprintf("+%s covered=%v", clock.Sub(start), set.MayWrite()) }}
	p := newTestPipeline(idx, cfg)
	p.now = func() time.Time { return clock }
	p.Suppress(set)

	var events []ev
	for i := range 12 {
		events = append(events, ev{id: fmt.Sprintf("e%d", i)})
	}
	msg := batchMsg(t, 1, events...)
	p.process(t.Context(), []njs.Msg{msg})

	for i, s := range idx.starts {
		if !strings.HasSuffix(s, "covered=true") {
			t.Fatalf("bulk request %d of %d began at %s (lease of %s published at +0s, each request up to %s): "+
				"begun without the lease covering it; requests began %v", i+1, len(idx.starts), s, lease, cfg.BulkTimeout, idx.starts)
		}
	}
	if end := clock.Sub(start); end > lease {
		t.Fatalf("the last write ended at +%s, after the lease ran out at +%s", end, lease)
	}
	if len(idx.starts) == 0 || len(idx.starts) == len(events) || msg.outcome() != "nak" {
		t.Fatalf("%d of 12 documents written, message %s: want those covered written and the message released for another instance",
			len(idx.starts), msg.outcome())
	}

	// Nor is the dead-lettering of a message's last delivery a write the
	// lease may not cover: past it, the message comes back instead.
	idx.answers = map[string][]Outcome{"last": {Failed}}
	clock = start.Add(lease - 2*cfg.BulkTimeout - time.Millisecond) // the request covered, not what follows it
	idx.took = cfg.BulkTimeout
	last := batchMsg(t, cfg.MaxDeliver, ev{id: "last"})
	p.process(t.Context(), []njs.Msg{last})
	if idx.deadLetterCalls != 0 || last.settled != "nak" {
		t.Fatalf("last delivery after its request ran to the lease's edge: %d dead-letter writes, message %s; want none, and the message back",
			idx.deadLetterCalls, last.outcome())
	}
}
