package document

import (
	"encoding/json"
	"fmt"
	"strings"
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
	b := NewBuilder("p", nil, testPlacement)
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
	if src["timestamp"] != float64(ts.UnixMilli()) || src["app_id"] != "app" || src["doc_id"] != first[0].ID {
		t.Fatalf("source %v", src)
	}
	if _, ok := src["sent_at"]; ok {
		t.Error("sent_at present though the batch had none")
	}
}

func TestBuildRejectsEventWithoutTimestamp(t *testing.T) {
	_, err := NewBuilder("p", nil, testPlacement).Build(&telemetryv1.EventBatch{Events: []*telemetryv1.Event{{EventId: "e"}}}, time.Now())
	if err == nil {
		t.Fatal("want an error")
	}
}

var testPlacement = Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute}

// TestBuildPlacement: an event from a device with a right clock goes to
// the index of the day the device gave it, without a look-up; one from a
// device whose clock is far off (here an hour ahead) is looked up and goes
// to the day of its corrected timestamp, which the document keeps.
func TestBuildPlacement(t *testing.T) {
	received := time.Date(2026, 11, 26, 0, 10, 0, 0, time.UTC)
	client := time.Date(2026, 11, 26, 0, 9, 0, 0, time.UTC)
	chain := enrichment.Chain{enrichment.NewClockSkew(enrichment.ClockSkewConfig{MaxSkew: time.Minute, MaxFuture: 10 * time.Minute, MaxAge: 24 * time.Hour})}
	for _, tc := range []struct {
		name       string
		sent       time.Time
		client     time.Time
		wantIndex  string
		wantTS     string
		wantLookup bool
	}{
		{"right clock", received, client, "p-2026.11.26", "2026-11-26T00:09:00Z", false},
		// Its 00:09 is the server's 23:09 the day before.
		{"an hour ahead", received.Add(time.Hour), client, "p-2026.11.25", "2026-11-25T23:09:00Z", true},
		{"two minutes behind", received.Add(-2 * time.Minute), client.Add(-2 * time.Minute), "p-2026.11.26", "2026-11-26T00:09:00Z", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batch := &telemetryv1.EventBatch{BatchId: "b", AppId: "app", ReceivedAt: timestamppb.New(received), SentAt: timestamppb.New(tc.sent),
				Events: []*telemetryv1.Event{{EventId: "e1", EventName: "x", ClientTimestamp: timestamppb.New(tc.client)}}}
			docs, err := NewBuilder("p", chain, testPlacement).Build(batch, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			src := decode(t, docs[0].Body)
			wantTS, err := time.Parse(time.RFC3339, tc.wantTS)
			if err != nil {
				t.Fatal(err)
			}
			if docs[0].Index != tc.wantIndex || src["timestamp"] != float64(wantTS.UnixMilli()) || docs[0].Lookup != tc.wantLookup {
				t.Fatalf("index %s, timestamp %v, lookup %v; want %s, %s, %v", docs[0].Index, src["timestamp"], docs[0].Lookup,
					tc.wantIndex, tc.wantTS, tc.wantLookup)
			}
		})
	}
}

// TestPlacement: which daily index an event goes to, and when it must be
// looked up across every index first.
func TestPlacement(t *testing.T) {
	received := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	p := Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute}
	at := func(d time.Duration) *time.Time { s := received.Add(d); return &s }
	tests := []struct {
		name       string
		client     time.Time
		timestamp  time.Time // as the clock-skew step makes it
		received   time.Time
		sent       *time.Time
		wantIndex  string
		wantLookup bool
		wantRecent []string
	}{
		{"right clock", received.Add(-time.Minute), received.Add(-time.Minute), received, at(0), "p-2026.11.26", false, nil},
		{"no sent_at", received.Add(-time.Minute), received.Add(-time.Minute), received, nil, "p-2026.11.26", false, nil},
		{"yesterday's event, queued offline", received.Add(-24 * time.Hour), received.Add(-24 * time.Hour), received, at(0), "p-2026.11.25", false, nil},
		{"just before midnight, received after", time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC),
			time.Date(2026, 11, 27, 0, 0, 1, 0, time.UTC), nil, "p-2026.11.26", false, nil},
		{"clock 4 minutes ahead, near midnight: the device's day", time.Date(2026, 11, 27, 0, 2, 0, 0, time.UTC),
			time.Date(2026, 11, 26, 23, 58, 0, 0, time.UTC), time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC),
			ptr(time.Date(2026, 11, 27, 0, 3, 0, 0, time.UTC)), "p-2026.11.27", false, nil},
		{"oldest plausible", received.Add(-30 * 24 * time.Hour), received.Add(-30 * 24 * time.Hour), received, nil, "p-2026.10.27", false, nil},
		{"clock 3 days behind: the timestamp's day, looked up", received.Add(-3*24*time.Hour - time.Hour), received.Add(-time.Hour), received,
			at(-3 * 24 * time.Hour), "p-2026.11.26", true, []string{"p-2026.11.23", "p-2026.11.25", "p-2026.11.27"}},
		{"clock 6 minutes ahead: looked up", received.Add(5 * time.Minute), received.Add(-time.Minute), received, at(6 * time.Minute),
			"p-2026.11.26", true, []string{"p-2026.11.25", "p-2026.11.27"}},
		{"too old: arrival day, looked up", time.Unix(0, 0).UTC(), received, received, nil, "p-2026.11.26", true,
			[]string{"p-1970.01.01", "p-2026.11.25", "p-2026.11.27"}},
		{"in the future: arrival day, looked up", received.Add(48 * time.Hour), received, received, nil, "p-2026.11.26", true,
			[]string{"p-2026.11.28", "p-2026.11.25", "p-2026.11.27"}},
		{"implausible timestamp not clamped by the chain", time.Unix(0, 0).UTC(), time.Unix(0, 0).UTC(), received, nil, "p-2026.11.26", true,
			[]string{"p-1970.01.01", "p-2026.11.25", "p-2026.11.27"}},
		{"year 0: no such index", time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC), received, received, nil, "p-2026.11.26", true,
			[]string{"p-2026.11.25", "p-2026.11.27"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index, lookup, recent := p.place("p", tt.client, tt.timestamp, tt.received, tt.sent)
			if index != tt.wantIndex || lookup != tt.wantLookup || fmt.Sprint(recent) != fmt.Sprint(tt.wantRecent) {
				t.Fatalf("index %s lookup %v recent %v; want %s %v %v", index, lookup, recent, tt.wantIndex, tt.wantLookup, tt.wantRecent)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }

// TestTextCopies: with text copies on, a document carries its metadata's
// values as full text (metadata_text, in key order); off, it does not.
func TestTextCopies(t *testing.T) {
	for _, tt := range []struct {
		on   bool
		want string
	}{
		{true, `"metadata_text":["Payment declined by bank","checkout"]`},
		{false, ""},
	} {
		t.Run(fmt.Sprint(tt.on), func(t *testing.T) {
			b := NewBuilder("p", nil, testPlacement).WithTextCopies(tt.on)
			now := time.Now().UTC()
			docs, err := b.Build(&telemetryv1.EventBatch{AppId: "a", ReceivedAt: timestamppb.New(now), Events: []*telemetryv1.Event{{
				EventId: "e1", EventName: "n", ClientTimestamp: timestamppb.New(now),
				Metadata: map[string]string{"screen": "checkout", "reason": "Payment declined by bank"}}}}, now)
			if err != nil {
				t.Fatal(err)
			}
			body := string(docs[0].Body)
			if has := strings.Contains(body, `"metadata_text"`); has != tt.on || (tt.on && !strings.Contains(body, tt.want)) {
				t.Fatalf("document %s; want metadata_text %v (%s)", body, tt.on, tt.want)
			}
		})
	}
}

// TestTimestampToTheMillisecond: a document's timestamp is kept to the
// millisecond, as OpenSearch indexes a date, so that a query's from/to
// (rounded up to the millisecond) selects exactly the events it shows; its
// dates are epoch milliseconds, the raw client_timestamp kept whole.
func TestTimestampToTheMillisecond(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 700_123_456, time.UTC)
	docs, err := NewBuilder("p", nil, testPlacement).Build(&telemetryv1.EventBatch{AppId: "a", ReceivedAt: timestamppb.New(at),
		Events: []*telemetryv1.Event{{EventId: "e1", EventName: "n", ClientTimestamp: timestamppb.New(at)}}}, at)
	if err != nil {
		t.Fatal(err)
	}
	if body := string(docs[0].Body); !strings.Contains(body, `"timestamp":1795687200700,`) || !strings.Contains(body, `"client_timestamp":1795687200700.123456,`) {
		t.Fatalf("document %s; want timestamp 10:00:00.700 (rounded down) and client_timestamp 10:00:00.700123456 (kept whole)", body)
	}
}
