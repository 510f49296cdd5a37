package pipeline

import (
	"context"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// recordingIndexer creates every document and records the ids it was sent.
type recordingIndexer struct {
	scriptedIndexer
	sent map[string][]string // id → indices
}

func (r *recordingIndexer) Index(ctx context.Context, docs []document.Doc) ([]ItemResult, error) {
	for _, d := range docs {
		r.sent[d.ID] = append(r.sent[d.ID], d.Index)
	}
	return r.scriptedIndexer.Index(ctx, docs)
}

// TestSameEventTwiceInOneFetchIsWrittenOnce: a client's retry fetched
// together with its original — here clamped, so the two deliveries'
// indices differ (the days of their arrivals) and a look-up cannot see a
// document not yet written — is sent once, and both messages are acked.
func TestSameEventTwiceInOneFetchIsWrittenOnce(t *testing.T) {
	midnight := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	var msgs []njs.Msg
	var fakes []*fakeMsg
	for i, received := range []time.Time{midnight.Add(-100 * time.Millisecond), midnight.Add(500 * time.Millisecond)} {
		b := &telemetryv1.EventBatch{BatchId: string(rune('a' + i)), AppId: "app", ReceivedAt: timestamppb.New(received),
			Events: []*telemetryv1.Event{{EventId: "e1", EventName: "x", ClientTimestamp: timestamppb.New(time.Unix(0, 0))},
				{EventId: "own-" + string(rune('a'+i)), EventName: "x", ClientTimestamp: timestamppb.New(received)}}}
		data, err := b.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		m := &fakeMsg{data: data}
		fakes = append(fakes, m)
		msgs = append(msgs, m)
	}
	idx := &recordingIndexer{sent: map[string][]string{}}
	p := newTestPipeline(idx, testConfig()) // every document is created: no retry settings come into play
	p.process(context.Background(), msgs)
	if got := idx.sent[eventdoc.ID("app", "e1")]; len(got) != 1 {
		t.Fatalf("e1 sent to %v; want once", got)
	}
	if len(idx.sent) != 3 {
		t.Fatalf("sent %v; want e1 once and each message's own event", idx.sent)
	}
	for i, m := range fakes {
		if m.settled != "ack" {
			t.Errorf("message %d: %q, want ack", i, m.settled)
		}
	}
}
