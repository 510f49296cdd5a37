package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestSuppressionEndIsJudgedByArrival: a deleted person's events are
// dropped while their suppression lasts, judged by when ingest received
// each event, not by when enrich fetches it. An event received inside the
// window but fetched after it (behind a backlog: OpenSearch was away, the
// stream filled) is the person's old data and must be dropped; one received
// after the window is new and is stored. Before, the end was compared with
// the fetch time, and the event received inside the window was stored.
func TestSuppressionEndIsJudgedByArrival(t *testing.T) {
	t.Parallel()
	b := suppressionBuckets(t, "sup-arrival")
	until := testReceived.Add(time.Hour)
	if _, err := b.Suppress(t.Context(), []suppression.Subject{{AppID: testApp, Kind: suppression.KindUserID, ID: "gone"}}, until, "job"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	// Fetched two hours after the suppression ended.
	clock := until.Add(2 * time.Hour)
	set, stop, err := suppression.Watch(t.Context(), b, suppression.SetConfig{Heartbeat: time.Second, Lease: time.Minute,
		WriteBound: 2 * cfg.BulkTimeout, Now: func() time.Time { return clock }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	if set.Len() != 1 {
		t.Fatalf("the set holds %d entries, want the person's one", set.Len())
	}
	idx := &scriptedIndexer{}
	p := newTestPipeline(idx, cfg)
	p.now = func() time.Time { return clock }
	p.Suppress(set)

	msg := func(receivedAt time.Time, events ...*telemetryv1.Event) njs.Msg {
		batch := &telemetryv1.EventBatch{BatchId: "b-" + events[0].EventId, AppId: testApp, ReceivedAt: timestamppb.New(receivedAt), Events: events}
		data, err := batch.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		return &fakeMsg{data: data, delivered: 1}
	}
	event := func(id, user string) *telemetryv1.Event {
		return &telemetryv1.Event{EventId: id, EventName: "x", UserId: user, ClientTimestamp: timestamppb.New(testReceived)}
	}
	p.process(t.Context(), []njs.Msg{
		msg(until.Add(-time.Hour), event("inside-gone", "gone"), event("inside-other", "other")), // received inside the window
		msg(until.Add(time.Hour), event("after-gone", "gone")),                                   // received after it
	})
	var stored []string
	for id := range idx.sends {
		stored = append(stored, id)
	}
	slices.Sort(stored)
	if want := []string{"after-gone", "inside-other"}; !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v: the person's event received %s before the suppression ended and fetched %s after it must be dropped, "+
			"the one received after it stored", stored, want, time.Hour, 2*time.Hour)
	}
}

// suppressionBuckets opens a suppression bucket (and its status bucket) of
// the test's own on the real JetStream, deleted when the test ends.
func suppressionBuckets(t *testing.T, short string) *suppression.Buckets {
	t.Helper()
	js := testenv.JetStream(t)
	bucket := strings.ToUpper(strings.ReplaceAll(testenv.Name(t, short), "-", "_"))
	t.Cleanup(func() {
		_ = js.DeleteKeyValue(context.Background(), bucket)
		_ = js.DeleteKeyValue(context.Background(), bucket+suppression.StatusSuffix)
	})
	b, err := suppression.Open(t.Context(), js, bucket, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
