package document

import (
	"encoding/json"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/evtrack/telemetry/services/enrich/internal/enrichment"
)

func TestBuildIsDeterministicAcrossDeliveries(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	batch := &telemetryv1.EventBatch{
		BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(ts.Add(time.Second)),
		Events: []*telemetryv1.Event{{EventId: "e1", UserId: "u", EventName: "x", ClientTimestamp: timestamppb.New(ts),
			Metadata: map[string]string{"k": "v"}}},
	}
	b := NewBuilder("p", nil)
	first, err := b.Build(batch, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Build(batch, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if first[0].ID != again[0].ID || first[0].Index != again[0].Index || first[0].Index != "p-2026.11.26" {
		t.Fatalf("first %s/%s, again %s/%s", first[0].Index, first[0].ID, again[0].Index, again[0].ID)
	}
	var src map[string]any
	if err := json.Unmarshal(first[0].Body, &src); err != nil {
		t.Fatal(err)
	}
	if src["timestamp"] != "2026-11-26T10:00:00.123456789Z" || src["app_id"] != "app" || src["doc_id"] != first[0].ID {
		t.Fatalf("source %v", src)
	}
	if _, ok := src["sent_at"]; ok {
		t.Error("sent_at present though the batch had none")
	}
}

func TestBuildRejectsEventWithoutTimestamp(t *testing.T) {
	_, err := NewBuilder("p", nil).Build(&telemetryv1.EventBatch{Events: []*telemetryv1.Event{{EventId: "e"}}}, time.Now())
	if err == nil {
		t.Fatal("want an error")
	}
}

func TestBuildIndexFollowsCorrectedTime(t *testing.T) {
	received := time.Date(2026, 11, 26, 0, 10, 0, 0, time.UTC)
	batch := &telemetryv1.EventBatch{
		BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(received),
		// The device clock is an hour ahead: its 00:59 is the server's 23:59 the day before.
		SentAt: timestamppb.New(received.Add(time.Hour)),
		Events: []*telemetryv1.Event{{EventId: "e1", EventName: "x", ClientTimestamp: timestamppb.New(time.Date(2026, 11, 26, 0, 59, 0, 0, time.UTC))}},
	}
	chain := enrichment.Chain{enrichment.NewClockSkew(enrichment.ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: time.Hour, MaxAge: 24 * time.Hour})}
	docs, err := NewBuilder("p", chain).Build(batch, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if docs[0].Index != "p-2026.11.25" {
		t.Fatalf("index %s, want the corrected day p-2026.11.25", docs[0].Index)
	}
}
