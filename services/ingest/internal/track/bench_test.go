package track

import (
	"fmt"
	"strings"
	"testing"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// benchBody is a 100-event batch of ~350-byte events like the load generator's.
func benchBody() []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event_id":"run1-%015d","user_id":"user-%d","session_id":"sess-%d-3","event_name":"screen_view",`+
			`"client_timestamp":"2026-11-26T10:00:0%d.123Z","app_version":"4.2.0","device_os":"iOS 18.1",`+
			`"metadata":{"screen":"home","build":1042,"dark_mode":true,"network":"wifi","locale":"en_US"},`+
			`"message":"user interaction recorded by the mobile sdk"}`, i, i*7, i, i%10)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// BenchmarkDecodeValidateMarshal is the CPU of one request on the ingest's
// hot path, minus HTTP and the broker round trip.
func BenchmarkDecodeValidateMarshal(b *testing.B) {
	benchDecodeValidateMarshal(b, benchBody(), (*Decoder).JSON)
}

// benchDecodeValidateMarshal measures decode, Validate and marshalling of
// body, a batch of 100 valid events, per request.
func benchDecodeValidateMarshal(b *testing.B, body []byte, decode func(*Decoder, []byte) (Request, func(), error)) {
	lim := Limits{MaxEvents: 1000, MaxMetadataKeys: 100, MaxEventBytes: 32 << 10}
	d := NewDecoder(lim, NewBudget(256<<20))
	buf := make([]byte, 0, 64<<10)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, release, err := decode(d, body)
		if err != nil {
			b.Fatal(err)
		}
		events, res := Validate(req.Events, lim)
		if res.Accepted != 100 {
			b.Fatalf("accepted %d: %+v", res.Accepted, res.Errors)
		}
		batch := &telemetryv1.EventBatch{BatchId: BatchID("app", events), AppId: "app", Events: events}
		size := batch.SizeVT()
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		if _, err := batch.MarshalToSizedBufferVT(buf[:size]); err != nil {
			b.Fatal(err)
		}
		release()
	}
}

// segmentBenchBody is benchBody's events as a Segment batch, as SDKs send
// them (the session and message as properties, device_os as context.os).
func segmentBenchBody() []byte {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","messageId":"run1-%015d","userId":"user-%d","event":"screen_view","timestamp":"2026-11-26T10:00:0%d.123Z",`+
			`"properties":{"screen":"home","build":1042,"dark_mode":true,"network":"wifi","locale":"en_US","session_id":"sess-%d-3","message":"user interaction recorded by the mobile sdk"},`+
			`"context":{"app":{"version":"4.2.0"},"os":{"name":"iOS","version":"18.1"}}}`, i, i*7, i%10, i)
	}
	b.WriteString(`],"sentAt":"2026-11-26T10:00:10Z"}`)
	return []byte(b.String())
}

// BenchmarkSegmentDecodeValidateMarshal is BenchmarkDecodeValidateMarshal
// for the same events as a Segment batch.
func BenchmarkSegmentDecodeValidateMarshal(b *testing.B) {
	benchDecodeValidateMarshal(b, segmentBenchBody(), func(d *Decoder, body []byte) (Request, func(), error) {
		return d.Segment(body, SegmentOptions{Call: SegmentBatch})
	})
}
