package service

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor for grpc.UseCompressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"

	"github.com/evtrack/telemetry/platform/testenv"
	ingestgrpc "github.com/evtrack/telemetry/services/ingest/internal/grpc"
)

// TestGRPCRefusesBeforeDecoding: a Track call is authenticated from its
// headers before its message is read, and a message of millions of empty
// events is refused after counting, not decoding, them. Each case sends a
// gzipped 4 MiB message of 2M empty events (a decoder that builds them
// allocates about half a GiB) and checks what the whole process allocated.
func TestGRPCRefusesBeforeDecoding(t *testing.T) {
	// Not parallel: it measures what the whole process allocates, so no
	// other test may run beside it (parallel tests wait for it to end).
	// A budget of four messages, so that a leaked reservation shows below.
	e := startIngest(t, "", map[string]string{"INGEST_DECODE_BUDGET_BYTES": strconv.Itoa(16 << 20)})
	conn := e.grpcConn(t, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	bomb := testenv.EmptyEventsTrackRequest(4<<20 - 64)
	call := func(ctx context.Context, body []byte) error {
		return conn.Invoke(ctx, ingestgrpc.TrackMethod, &testenv.RawMessage{Bytes: body}, new(ingestv1.TrackResponse),
			grpc.ForceCodecV2(testenv.RawCodec{}), grpc.UseCompressor("gzip"))
	}
	tests := []struct {
		name     string
		ctx      context.Context
		body     []byte
		wantCode codes.Code
		wantMsg  string
	}{
		{"no key", context.Background(), bomb, codes.Unauthenticated, "write key"},
		{"unknown key", authed("nope-nope-nope-nope"), bomb, codes.Unauthenticated, "write key"},
		{"valid key, two million empty events", authed(testKey), bomb, codes.InvalidArgument, "too_many_events"},
		{"valid key, over the message limit", authed(testKey), testenv.EmptyEventsTrackRequest(4<<20 + 64), codes.ResourceExhausted, "larger than max"},
		{"valid key, a megabyte of user agent", metadata.AppendToOutgoingContext(authed(testKey),
			"user-agent", strings.Repeat("u", 1<<20)), testenv.EmptyEventsTrackRequest(64), codes.Unavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := call(tt.ctx, tt.body)
			runtime.ReadMemStats(&after)
			st := status.Convert(err)
			if st.Code() != tt.wantCode && !(tt.wantMsg == "" && st.Code() != codes.OK) {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			if !strings.Contains(st.Message(), tt.wantMsg) {
				t.Fatalf("message %q does not name %q", st.Message(), tt.wantMsg)
			}
			// Client and server share this process: the client's gzip and
			// the server's inflated copy of the message are what it may cost.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Errorf("the call allocated %d MiB", grew>>20)
			}
		})
	}
	// Every refused call returned its request slot and memory: more refused
	// calls than the budget holds reservations, then a good call is stored.
	for range 8 {
		if err := call(authed(testKey), bomb); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("repeated oversized call: %v", err)
		}
	}
	ok, err := proto.Marshal(&ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{{
		EventId: "good", UserId: "u", EventName: "e", ClientTimestamp: timestamppb.Now()}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := call(authed(testKey), ok); err != nil {
		t.Fatalf("after the refused calls a good one failed: %v", err)
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1 (only the good call)", n)
	}
}
