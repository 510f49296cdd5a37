package service

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	natstest "github.com/nats-io/nats-server/v2/test"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// TestStreamFullRefusesNewBatches: at its limit the stream refuses new
// batches (503 with Retry-After, counted), never drops one it acknowledged,
// and reports how full it is.
func TestStreamFullRefusesNewBatches(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"EVENTS_STREAM_MAX_MSGS": "5", "INGEST_RETRY_AFTER": "4s"})
	post := func(i int) response {
		return e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(`[` + event("full-"+strconv.Itoa(i)) + `]`)})
	}
	for i := range 5 {
		if res := post(i); res.status != http.StatusAccepted {
			t.Fatalf("batch %d within the limit: %d %s", i, res.status, res.raw)
		}
	}
	res := post(5)
	if res.status != http.StatusServiceUnavailable || res.errorCode() != "stream_full" || res.header.Get("Retry-After") != "4" {
		t.Fatalf("batch over the limit: %d %s %v, want 503 stream_full with Retry-After 4", res.status, res.raw, res.header)
	}
	if n := e.messages(t); n != 5 {
		t.Fatalf("stream holds %d messages, want the 5 acknowledged ones", n)
	}
	// The first batch is still there: nothing acknowledged was discarded.
	s, _ := e.js.Stream(context.Background(), e.stream)
	if _, err := s.GetMsg(context.Background(), 1); err != nil {
		t.Fatalf("the first acknowledged batch is gone: %v", err)
	}
	m := scrape(t, e.base+"/metrics")
	if m["ingest_stream_full_total"] != 1 || m["ingest_stream_fill_ratio"] != 1 || m["ingest_stream_messages"] != 5 {
		t.Fatalf("metrics: full %v, fill ratio %v, messages %v", m["ingest_stream_full_total"], m["ingest_stream_fill_ratio"], m["ingest_stream_messages"])
	}
}

// TestBatchOverBrokerPayloadLimit: a batch the broker can never take is a
// 413 naming the limit, not a 503 that the client would retry for ever.
func TestBatchOverBrokerPayloadLimit(t *testing.T) {
	t.Parallel()
	opts := natstest.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir, opts.MaxPayload = -1, true, t.TempDir(), 16<<10
	small := runNATSWith(t, &opts)
	e := startIngest(t, small.ClientURL(), nil)
	big := `[{"event_id":"big","user_id":"u","event_name":"e","client_timestamp":"2026-11-26T10:00:00Z","message":"` + strings.Repeat("m", 24<<10) + `"}]`
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(big)})
	if res.status != http.StatusRequestEntityTooLarge || res.errorCode() != "batch_too_large" || !strings.Contains(res.json["error"].(map[string]any)["message"].(string), "message limit") {
		t.Fatalf("got %d %s, want 413 batch_too_large", res.status, res.raw)
	}
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", body: []byte(`[` + event("small") + `]`)}); res.status != http.StatusAccepted {
		t.Fatalf("a small batch after it: %d %s", res.status, res.raw)
	}
}

// TestHeaderFieldsCapped: a header-derived field is capped the same way
// whichever edge it arrived through.
func TestHeaderFieldsCapped(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	ua := strings.Repeat("é", 3000) // 6000 bytes, under the 8 KiB header limit
	if res := e.post(t, request{auth: bearer(testKey), contentType: "application/json", header: map[string]string{"User-Agent": ua},
		body: []byte(`[` + event("http-ua") + `]`)}); res.status != http.StatusAccepted {
		t.Fatalf("http: %d %s", res.status, res.raw)
	}
	conn := e.grpcConn(t, grpc.WithUserAgent(ua))
	ctx := authed(testKey)
	if _, err := ingestv1.NewIngestServiceClient(conn).Track(ctx, &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{
		Events: []*telemetryv1.Event{{EventId: "grpc-ua", UserId: "u", EventName: "e", ClientTimestamp: timestamppb.Now()}}}}); err != nil {
		t.Fatalf("grpc: %v", err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		b := e.storedBatch(t, seq)
		if len(b.UserAgent) > 512 || !strings.HasPrefix(b.UserAgent, "éé") || strings.ContainsRune(b.UserAgent, '\uFFFD') {
			t.Fatalf("batch %d (%s): user agent of %d bytes: %.40q…", seq, b.Events[0].EventId, len(b.UserAgent), b.UserAgent)
		}
	}
	// Over the header limit: refused before anything is read.
	_, err := ingestv1.NewIngestServiceClient(conn).Track(metadata.AppendToOutgoingContext(ctx, "x-pad", strings.Repeat("p", 16<<10)),
		&ingestv1.TrackRequest{})
	if status.Code(err) == codes.OK || status.Code(err) == codes.InvalidArgument {
		t.Fatalf("a call with 16 KiB of headers got %v", err)
	}
}

// scrape reads the Prometheus text at url into name → value, for series
// without labels beyond the constant ones.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 && !strings.Contains(name[i:], "kind=") {
			name = name[:i]
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			out[name] = v
		}
	}
	return out
}

// TestGRPCRetryReportedAsDuplicates: over gRPC too, a stored retry answers
// with its events under duplicates.
func TestGRPCRetryReportedAsDuplicates(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	conn := e.grpcConn(t)
	ctx := authed(testKey)
	req := &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{
		{EventId: "r1", UserId: "u", EventName: "e", ClientTimestamp: timestamppb.Now()},
		{EventId: "r2", UserId: "u", EventName: "e", ClientTimestamp: timestamppb.Now()}}}}
	for i, want := range []*ingestv1.TrackResponse{{Accepted: 2}, {Duplicates: 2}} {
		res, err := ingestv1.NewIngestServiceClient(conn).Track(ctx, req)
		if err != nil || res.Accepted != want.Accepted || res.Duplicates != want.Duplicates {
			t.Fatalf("attempt %d: %v %v, want %v", i, res, err, want)
		}
	}
}
