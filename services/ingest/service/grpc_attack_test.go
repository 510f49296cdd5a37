package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
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

// TestStalledGRPCMessagesHoldOnlyTheirAddressShare: with a valid key (keys
// ship inside apps and can be extracted), 9 Track calls from one address
// declare 1 MiB messages and stall after their first bytes. A call reserves
// the largest message from the memory budget before the message is
// received, so before the gRPC edge charged the caller's address the calls
// held this instance's whole 8 MiB budget (8 reservations) and every
// caller, HTTP and gRPC, was refused until they ended. Now one address holds
// at most its share (one largest message, 1 MiB) of bodies and messages over
// both edges together: one stalled call holds it and the other 8 are refused
// RESOURCE_EXHAUSTED, as are the address's next call (with a RetryInfo) and
// its next HTTP body (429), while a caller at another address is served on
// both edges.
func TestStalledGRPCMessagesHoldOnlyTheirAddressShare(t *testing.T) {
	t.Parallel()
	const budget, message = 8 << 20, 1 << 20 // the budget holds 8 messages; an address's share, 1
	e := startIngest(t, "", map[string]string{
		"INGEST_DECODE_BUDGET_BYTES": strconv.Itoa(budget), "INGEST_GRPC_MAX_MESSAGE_BYTES": strconv.Itoa(message)})
	const calls = budget/message + 1
	answers := e.stallTrackCalls(t, testKey, calls, message)

	// The stalls struck: all but one refused for their address's share,
	// which the one left holds while it waits for its message.
	var refused []*status.Status
	seen := func() string {
		var s []string
		for _, st := range refused {
			s = append(s, st.Code().String()+" "+strconv.Quote(st.Message()))
		}
		return fmt.Sprintf("%d of %d stalled calls answered %v", len(refused), calls, s)
	}
	drain := func() {
		for {
			select {
			case st := <-answers:
				refused = append(refused, st)
			default:
				return
			}
		}
	}
	testenv.EventuallyState(t, 20*time.Second, fmt.Sprintf("%d of the %d stalled calls refused", calls-1, calls), func() (bool, string) {
		drain()
		return len(refused) >= calls-1, seen()
	})
	want := fmt.Sprintf("too_many_requests: this address already has %d bytes of request bodies being read; at most %d", message, message)
	for _, st := range refused {
		if st.Code() != codes.ResourceExhausted || st.Message() != want {
			t.Fatalf("%s; want RESOURCE_EXHAUSTED %q", seen(), want)
		}
	}

	// The stalled address's next call and next HTTP body: refused, its
	// share held by the stalled call.
	ok := func(id string) *ingestv1.TrackRequest {
		return &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{{
			EventId: id, UserId: "u", EventName: "e", ClientTimestamp: timestamppb.Now()}}}}
	}
	_, err := ingestv1.NewIngestServiceClient(e.grpcConn(t)).Track(authed(testKey), ok("stalled-address"))
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if st.Code() != codes.ResourceExhausted || retry == nil || retry.RetryDelay.AsDuration() != 2*time.Second {
		t.Errorf("the stalled address's next call: %v (details %v), want RESOURCE_EXHAUSTED with a RetryInfo of 2s", err, st.Details())
	}
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch)})
	if res.status != http.StatusTooManyRequests || res.errorCode() != "too_many_requests" || res.header.Get("Retry-After") != "2" {
		t.Errorf("the stalled address's next HTTP body: %d %s (Retry-After %q), want 429 too_many_requests", res.status, res.raw, res.header.Get("Retry-After"))
	}

	// A caller at another address is served on both edges.
	other := ingestv1.NewIngestServiceClient(e.grpcConn(t, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		return dialFrom("127.0.0.2")(ctx, "tcp", addr)
	})))
	if got, err := other.Track(authed(testKey), ok("other-address")); err != nil || got.Accepted != 1 {
		t.Fatalf("a gRPC caller at another address while the stalls hold: %v %v", got, err)
	}
	res = e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(goodBatch), client: httpClientFrom(t, "127.0.0.2")})
	if res.status != http.StatusAccepted {
		t.Fatalf("an HTTP caller at another address while the stalls hold: %d %s", res.status, res.raw)
	}
	if n := e.messages(t); n != 2 {
		t.Fatalf("stream holds %d messages, want 2 (the other address's two calls)", n)
	}
	// The one stalled call left still holds the share: it was never answered.
	if drain(); len(refused) != calls-1 {
		t.Fatalf("%s; want one still stalled", seen())
	}
}

// stallTrackCalls opens one HTTP/2 connection to the gRPC port and starts n
// Track calls on it with key, each sending its headers and a message prefix
// that declares a message of declared bytes, then a few bytes of it and
// nothing more. The status of each call the server answers arrives on the
// returned channel as it comes; the connection is closed when the test ends,
// which ends its reader.
func (e *ingestEnv) stallTrackCalls(t *testing.T, key string, n, declared int) <-chan *status.Status {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.grpcAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // one writer at a time: the calls below, and the reader's acks
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	answers := make(chan *status.Status, n)
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	// Held until the calls are written: the server sends its SETTINGS at
	// once, and the reader's ack must not go out before the preface.
	mu.Lock()
	defer mu.Unlock()
	go func() {
		defer close(done)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return // the connection closed
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					mu.Lock()
					_ = fr.WriteSettingsAck()
					mu.Unlock()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					mu.Lock()
					_ = fr.WritePing(true, f.Data)
					mu.Unlock()
				}
			case *http2.MetaHeadersFrame:
				if code := f.PseudoValue("status"); code != "" && code != "200" {
					answers <- status.New(codes.Unknown, "HTTP status "+code)
					continue
				}
				var code, msg string
				for _, h := range f.RegularFields() {
					switch h.Name {
					case "grpc-status":
						code = h.Value
					case "grpc-message":
						msg, _ = url.PathUnescape(h.Value)
					}
				}
				if c, err := strconv.Atoi(code); err == nil {
					answers <- status.New(codes.Code(c), msg)
				}
			}
		}
	}()

	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	// The prefix: not compressed, declared bytes; then the first 8 of them.
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(declared))
	msg = append(msg, "\x0a\xf8\xff\x3f\x3a\x04\x0a\x02"...)
	for i := range n {
		block.Reset()
		for _, h := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", ingestgrpc.TrackMethod}, {":authority", e.grpcAddr},
			{"content-type", "application/grpc"}, {"te", "trailers"}, {"authorization", bearer(key)},
		} {
			if err := enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}); err != nil {
				t.Fatal(err)
			}
		}
		id := uint32(2*i + 1)
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := fr.WriteData(id, false, msg); err != nil {
			t.Fatal(err)
		}
	}
	return answers
}
