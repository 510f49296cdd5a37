package grpc

import (
	"maps"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

// The audit trail's filters are read field by field; the protojson round
// trip they replaced is the reference, request by request.
func TestFieldFiltersMatchTheirJSONForm(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 1, 10, 30, 0, 123000000, time.UTC))
	tests := []struct {
		name string
		req  proto.Message
	}{
		{"empty", &queryv1.SearchEventsRequest{}},
		{"a first page", &queryv1.SearchEventsRequest{AppId: "app", UserId: "u-1", PageSize: 50}},
		{"every filter and the page token left out", &queryv1.SearchEventsRequest{AppId: "app", UserId: "ü <&> \"x\"", PageSize: 2147483647,
			PageToken: "secret", AnonymousId: "a", SessionId: "s", EventName: []string{"open", "<b>", "é"}, AppVersion: "1.2", DeviceOs: "iOS",
			Country: "FR", From: at, To: timestamppb.New(time.Unix(0, 0)), Q: "q*", OsVersion: "18", DeviceModel: "m", Locale: "fr_FR",
			Timezone: "Europe/Paris", SdkName: "swift", SdkVersion: "0.1"}},
		{"one event name", &queryv1.SearchEventsRequest{EventName: []string{"a"}}},
		{"a negative page size", &queryv1.SearchEventsRequest{PageSize: -3}},
		{"stats", &queryv1.EventStatsRequest{AppId: "app", Interval: "1h", Top: 10, From: at}},
		{"a single event", &queryv1.GetEventRequest{AppId: "app", EventId: "e-1"}},
		{"a summary", &queryv1.GetUserSummaryRequest{AppId: "app", UserId: "u"}},
		{"a deletion job", &queryv1.GetDeletionRequest{JobId: "j"}},
		{"a timestamp protojson refuses", &queryv1.SearchEventsRequest{AppId: "app", From: &timestamppb.Timestamp{Seconds: -1 << 62}}},
		{"invalid UTF-8", &queryv1.SearchEventsRequest{AppId: "app\xff"}},
		{"a message that is no string in JSON", &durationpb.Duration{Seconds: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := jsonFilters(tt.req)
			got, ok := fieldFilters(tt.req.ProtoReflect())
			if !ok {
				got = jsonFilters(tt.req) // what filters does then
			}
			if !maps.Equal(got, want) {
				t.Fatalf("field by field %v (read directly: %v), protojson %v", got, ok, want)
			}
			if g := filters(tt.req); !maps.Equal(g, want) {
				t.Fatalf("filters %v, want %v", g, want)
			}
		})
	}
	if _, ok := fieldFilters((&queryv1.SearchEventsRequest{AppId: "app", UserId: "u", PageSize: 50}).ProtoReflect()); !ok {
		t.Fatal("a first page's request went the slow way")
	}
}

func BenchmarkFilters(b *testing.B) {
	req := &queryv1.SearchEventsRequest{AppId: "app", UserId: "u-123456", PageSize: 50, EventName: []string{"open"},
		From: timestamppb.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))}
	b.Run("field by field", func(b *testing.B) {
		for b.Loop() {
			fieldFilters(req.ProtoReflect())
		}
	})
	b.Run("protojson round trip", func(b *testing.B) {
		for b.Loop() {
			jsonFilters(req)
		}
	})
}
