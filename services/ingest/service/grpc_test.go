package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/testenv"
	ingestgrpc "github.com/evtrack/telemetry/services/ingest/internal/grpc"
)

func TestGRPCTrack(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", map[string]string{"INGEST_MAX_EVENTS": "3"})
	client := ingestv1.NewIngestServiceClient(e.grpcConn(t))
	ts := timestamppb.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	valid := func(id string) *telemetryv1.Event {
		return &telemetryv1.Event{EventId: id, UserId: "u1", EventName: "server_job", ClientTimestamp: ts}
	}

	res, err := client.Track(authed(testKey), &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{
		SentAt: ts, AppId: "spoofed-app", ClientIp: "1.1.1.1",
		Events: []*telemetryv1.Event{valid("g1"), {EventId: "g2", UserId: "u1", EventName: "x"}, valid("g1")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := &ingestv1.TrackResponse{Accepted: 1, Rejected: 1, Duplicates: 1, Errors: []*ingestv1.EventError{
		{Index: 1, EventId: "g2", Field: "client_timestamp", Message: "required"}}}
	if !proto.Equal(res, want) {
		t.Fatalf("response %v, want %v", res, want)
	}
	batch := e.storedBatch(t, 1)
	if batch.AppId != "app-test" || batch.ClientIp != "127.0.0.1" || !batch.SentAt.AsTime().Equal(ts.AsTime()) || len(batch.Events) != 1 {
		t.Fatalf("published batch %v: server facts must come from the server", batch)
	}

	tests := []struct {
		name       string
		ctx        context.Context
		req        *ingestv1.TrackRequest
		wantCode   codes.Code
		violations int
	}{
		{"no key", context.Background(), &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{valid("n")}}}, codes.Unauthenticated, 0},
		{"unknown key", authed("nope-nope-nope-nope"), &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{valid("n")}}}, codes.Unauthenticated, 0},
		{"no valid event", authed(testKey), &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{{EventId: "a"}, {EventId: "b"}}}}, codes.InvalidArgument, 2},
		{"no batch", authed(testKey), &ingestv1.TrackRequest{}, codes.InvalidArgument, 0},
		{"too many events", authed(testKey), &ingestv1.TrackRequest{Batch: &telemetryv1.EventBatch{Events: []*telemetryv1.Event{valid("1"), valid("2"), valid("3"), valid("4")}}}, codes.InvalidArgument, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Track(tt.ctx, tt.req)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			n := 0
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					n = len(br.FieldViolations)
				}
			}
			if n != tt.violations {
				t.Fatalf("%d field violations, want %d: %v", n, tt.violations, st.Details())
			}
		})
	}
	if n := e.messages(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

// TestInvalidUTF8IsRefusedPerEventOverProtobuf: an event with a string that
// is not UTF-8 is rejected on its own over protobuf and gRPC, as over JSON,
// and the rest of its batch is stored. Before, the protobuf decoder refused
// the whole message (400 / INVALID_ARGUMENT invalid_protobuf), losing the
// good events with it.
func TestInvalidUTF8IsRefusedPerEventOverProtobuf(t *testing.T) {
	t.Parallel()
	e := startIngest(t, "", nil)
	ts := timestamppb.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	batch := func(prefix string) *telemetryv1.EventBatch {
		return &telemetryv1.EventBatch{Events: []*telemetryv1.Event{
			{EventId: prefix + "-good", UserId: "u1", EventName: "e", ClientTimestamp: ts},
			{EventId: prefix + "-bad", UserId: "u\xc3\x28", EventName: "e", ClientTimestamp: ts},
			// An id that is not UTF-8 is named in the answer: the gRPC
			// answer failed to encode (INTERNAL, after the good event was
			// stored) until it was made valid.
			{EventId: prefix + "-bad\xff", UserId: "u", ClientTimestamp: ts},
		}}
	}
	// MarshalVT: proto.Marshal refuses to write such a string.
	body, err := batch("http").MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	res := e.post(t, request{auth: bearer(testKey), contentType: "application/x-protobuf", body: body})
	if res.status != 202 || res.json["accepted"] != 1.0 || res.json["rejected"] != 2.0 || !strings.Contains(string(res.raw), `"field":"user_id"`) {
		t.Fatalf("HTTP protobuf: %d %s; want 202, the good event accepted and user_id rejected", res.status, res.raw)
	}
	msg, err := (&ingestv1.TrackRequest{Batch: batch("grpc")}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	var got ingestv1.TrackResponse
	if err := e.grpcConn(t).Invoke(authed(testKey), ingestgrpc.TrackMethod, &testenv.RawMessage{Bytes: msg}, &got,
		grpc.ForceCodecV2(testenv.RawCodec{})); err != nil {
		t.Fatalf("gRPC: %v; want the good event accepted", err)
	}
	if got.Accepted != 1 || got.Rejected != 2 || len(got.Errors) != 2 || got.Errors[0].Field != "user_id" {
		t.Fatalf("gRPC: %v; want the good event accepted and user_id rejected", &got)
	}
	if n := e.messages(t); n != 2 {
		t.Fatalf("stream holds %d batches, want 2 (the good event of each call)", n)
	}
}
