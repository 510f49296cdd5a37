package document

import (
	"encoding/json"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestBuildIsDeterministicAcrossDeliveries(t *testing.T) {
	ts := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	batch := &telemetryv1.EventBatch{
		BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(ts.Add(time.Second)),
		Events: []*telemetryv1.Event{{EventId: "e1", UserId: "u", EventName: "x", ClientTimestamp: timestamppb.New(ts),
			Metadata: map[string]string{"k": "v"}}},
	}
	first, err := Build("p", batch, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build("p", batch, time.Now().Add(time.Hour))
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
	_, err := Build("p", &telemetryv1.EventBatch{Events: []*telemetryv1.Event{{EventId: "e"}}}, time.Now())
	if err == nil {
		t.Fatal("want an error")
	}
}
