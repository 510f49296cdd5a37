package track

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// TestChargeCoversWhatDecodingAllocates decodes bodies shaped the way an
// attacker with a key would shape them — long strings, many tiny values,
// many metadata entries, values the decoder ignores — and checks that what
// each decoder charges to the budget is at least what decoding allocated,
// with nothing reused from an earlier request.
func TestChargeCoversWhatDecodingAllocates(t *testing.T) {
	lim := Limits{MaxEvents: 1000, MaxMetadataKeys: 100, MaxEventBytes: 32 << 10}
	repeat := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	longStrings := "[" + repeat(1000, func(i int) string {
		return fmt.Sprintf(`{"event_id":"e%d","event_name":%q,"user_id":%q}`, i, strings.Repeat("n", 500), strings.Repeat("u", 500))
	}) + "]"
	manyEntries := "[" + repeat(1000, func(i int) string {
		return fmt.Sprintf(`{"event_id":"e%d","metadata":{%s}}`, i, repeat(100, func(j int) string { return fmt.Sprintf(`"k%d":1`, j) }))
	}) + "]"
	ignored := `[{"event_id":"a","extra":[` + repeat(100000, func(int) string { return "1" }) + `]}]`
	segment := `{"batch":[` + repeat(1000, func(i int) string {
		return fmt.Sprintf(`{"type":"track","messageId":"m%d","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":{%s}}`,
			i, repeat(60, func(j int) string { return fmt.Sprintf(`"p%d":"v"`, j) }))
	}) + `]}`
	segmentOne := `{"batch":[` + repeat(1000, func(i int) string {
		return fmt.Sprintf(`{"type":"track","messageId":"m%d","userId":"u","event":"e","properties":{"p":1}}`, i)
	}) + `]}`
	segmentLong := `{"batch":[` + repeat(500, func(i int) string {
		return fmt.Sprintf(`{"type":"identify","messageId":"m%d","userId":%q,"traits":{"t":%q},"context":{"app":{"version":%q}}}`,
			i, strings.Repeat("u", 500), strings.Repeat("t", 500), strings.Repeat("v", 500))
	}) + `]}`
	oneEntry := "[" + repeat(1000, func(i int) string { return fmt.Sprintf(`{"event_id":"e%d","metadata":{"k":1}}`, i) }) + "]"
	empty := "[" + repeat(1000, func(int) string { return "{}" }) + "]"
	protoBody := func(entries int) []byte {
		var batch telemetryv1.EventBatch
		for i := range 1000 {
			md := make(map[string]string, entries)
			for j := range entries {
				md[fmt.Sprintf("k%d", j)] = "v"
			}
			batch.Events = append(batch.Events, &telemetryv1.Event{EventId: fmt.Sprintf("e%d", i), Metadata: md})
		}
		b, err := proto.Marshal(&batch)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	type decode func(d *Decoder, body []byte) (Request, func(), error)
	asJSON := func(d *Decoder, body []byte) (Request, func(), error) { return d.JSON(body) }
	asSegment := func(d *Decoder, body []byte) (Request, func(), error) {
		return d.Segment(body, SegmentOptions{Call: SegmentBatch, Now: segmentNow})
	}
	asProto := func(d *Decoder, body []byte) (Request, func(), error) { return d.Proto(body) }
	tests := []struct {
		name   string
		body   []byte
		decode decode
	}{
		{"JSON, long strings", []byte(longStrings), asJSON},
		{"JSON, 100 metadata entries an event", []byte(manyEntries), asJSON},
		{"JSON, 100,000 values the decoder ignores", []byte(ignored), asJSON},
		{"Segment, 60 properties a message", []byte(segment), asSegment},
		{"Segment, one property a message", []byte(segmentOne), asSegment},
		{"Segment, long strings", []byte(segmentLong), asSegment},
		{"JSON, one metadata entry an event", []byte(oneEntry), asJSON},
		{"JSON, empty events", []byte(empty), asJSON},
		{"protobuf, 100 metadata entries an event", protoBody(100), asProto},
		{"protobuf, 9 metadata entries an event", protoBody(9), asProto},
		{"protobuf, one metadata entry an event", protoBody(1), asProto},
		{"protobuf, empty events", protoBody(0), asProto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := NewBudget(1 << 30)
			dec := NewDecoder(lim, budget)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			req, release, err := tt.decode(dec, tt.body)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			charged, alloc := budget.Held(), int64(after.TotalAlloc-before.TotalAlloc)
			t.Logf("body %d bytes, %d events: charged %d, decoding allocated %d (%.2f)", len(tt.body), len(req.Events), charged, alloc, float64(charged)/float64(alloc))
			if charged < alloc {
				t.Errorf("charged %d bytes but decoding allocated %d", charged, alloc)
			}
		})
	}
}
