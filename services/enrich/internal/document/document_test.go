package document

import (
	"encoding/json"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestIndexName(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), "p-2026.11.26"},
		{time.Date(2026, 11, 27, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "p-2026.11.26"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "p-2027.01.01"},
	}
	for _, tt := range tests {
		if got := IndexName("p", tt.t); got != tt.want {
			t.Errorf("IndexName(%v) = %s, want %s", tt.t, got, tt.want)
		}
	}
}

func TestIDIsStableAndSeparatesApps(t *testing.T) {
	if ID("a", "e") != ID("a", "e") {
		t.Fatal("not stable")
	}
	for _, pair := range [][2][2]string{
		{{"a", "e"}, {"b", "e"}},
		{{"ab", "c"}, {"a", "bc"}},
	} {
		if ID(pair[0][0], pair[0][1]) == ID(pair[1][0], pair[1][1]) {
			t.Errorf("%v and %v share an id", pair[0], pair[1])
		}
	}
	if n := len(ID("a", "e")); n != 22 {
		t.Errorf("id length %d", n)
	}
}

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
