package http

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// fullEvent is a StoredEvent with every field set (found by reflection),
// text that needs escaping, and timestamps whose nanoseconds need 0, 3, 6
// and 9 digits.
func fullEvent(t testing.TB, n int) *telemetryv1.StoredEvent {
	e := &telemetryv1.StoredEvent{}
	m := e.ProtoReflect()
	fields := m.Descriptor().Fields()
	nanos := []int32{0, 120_000_000, 123_456_000, 123_456_789, 1}
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			mp := m.Mutable(f).Map()
			for _, k := range []string{"screen", "a\"b", "<tag>&", "zeta\u2028", "é"} {
				mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(fmt.Sprintf("%s %d\n\t\x01", k, n)))
			}
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString(fmt.Sprintf("%s-%d \"é\\ <b>&\u2029", f.Name(), n)))
		case f.Kind() == protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		case f.Kind() == protoreflect.Int64Kind:
			m.Set(f, protoreflect.ValueOfInt64(-9_007_199_254_740_993-int64(n)))
		case f.Kind() == protoreflect.MessageKind && f.Message().FullName() == "google.protobuf.Timestamp":
			ts := &timestamppb.Timestamp{Seconds: 1_764_150_000 + int64(i), Nanos: nanos[(i+n)%len(nanos)]}
			m.Set(f, protoreflect.ValueOfMessage(ts.ProtoReflect()))
		default:
			t.Fatalf("StoredEvent.%s has a type this test does not fill", f.Name())
		}
	}
	return e
}

// TestSearchEventsResponseAsProtojson: the page's JSON is the value
// protojson writes, for every field, and reads back to the same message.
func TestSearchEventsResponseAsProtojson(t *testing.T) {
	m := newMarshaler()
	for _, tc := range []struct {
		name string
		resp *queryv1.SearchEventsResponse
	}{
		{"empty", &queryv1.SearchEventsResponse{}},
		{"token only", &queryv1.SearchEventsResponse{NextPageToken: "tok"}},
		{"zero event", &queryv1.SearchEventsResponse{Events: []*telemetryv1.StoredEvent{{}}}},
		{"full events", &queryv1.SearchEventsResponse{Events: []*telemetryv1.StoredEvent{fullEvent(t, 0), fullEvent(t, 1), fullEvent(t, 2)}, NextPageToken: "next/+="}},
		{"timestamps at the range's edges", &queryv1.SearchEventsResponse{Events: []*telemetryv1.StoredEvent{
			{Timestamp: &timestamppb.Timestamp{Seconds: minTimestamp}, SentAt: &timestamppb.Timestamp{Seconds: maxTimestamp, Nanos: 999_999_999}},
			{Timestamp: timestamppb.New(time.Date(999, 2, 3, 4, 5, 6, 7, time.UTC)), SentAt: timestamppb.New(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))},
		}}},
		{"some fields", &queryv1.SearchEventsResponse{Events: []*telemetryv1.StoredEvent{{EventId: "e", HasClockSkew: true, Timestamp: timestamppb.New(timestamppb.Now().AsTime())}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := appendSearchEventsResponse(nil, tc.resp); !ok {
				t.Fatal("left to protojson")
			}
			want, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("JSON\n%s\nprotojson\n%s", got, want)
			}
			back := &queryv1.SearchEventsResponse{}
			if err := protojson.Unmarshal(got, back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(back, tc.resp) {
				t.Errorf("read back %v, want %v", back, tc.resp)
			}
		})
	}
}

// TestValuesProtojsonRefusesAreLeftToIt: text that is not UTF-8 and
// timestamps out of range give protojson's error, as before.
func TestValuesProtojsonRefusesAreLeftToIt(t *testing.T) {
	m := newMarshaler()
	for _, e := range []*telemetryv1.StoredEvent{
		{EventId: "a\xffb"},
		{Metadata: map[string]string{"k": "\xff"}},
		{Metadata: map[string]string{"\xff": "v"}},
		{Timestamp: &timestamppb.Timestamp{Seconds: 253402300800}},
		{Timestamp: &timestamppb.Timestamp{Nanos: -1}},
	} {
		resp := &queryv1.SearchEventsResponse{Events: []*telemetryv1.StoredEvent{e}}
		if _, ok := appendSearchEventsResponse(nil, resp); ok {
			t.Errorf("%v: written, protojson refuses it", e)
		}
		_, err := m.Marshal(resp)
		_, want := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
		if err == nil || want == nil || err.Error() != want.Error() {
			t.Errorf("%v: error %v, protojson's %v", e, err, want)
		}
	}
}

// BenchmarkMarshalFirstPage: a page of 50 events as the gateway writes it,
// against protojson.
func BenchmarkMarshalFirstPage(b *testing.B) {
	resp := &queryv1.SearchEventsResponse{NextPageToken: strings.Repeat("t", 120)}
	for i := range 50 {
		ts := timestamppb.New(time.Date(2026, 11, 26, 10, 0, i, 123_000_000, time.UTC))
		resp.Events = append(resp.Events, &telemetryv1.StoredEvent{
			Id: fmt.Sprintf("%040x", i), AppId: "shop-ios", EventId: fmt.Sprintf("0193f1c2-7d4e-7a10-8b2c-%012d", i), UserId: "user-7", SessionId: "sess-7-3",
			EventName: "screen_view", Timestamp: ts, ClientTimestamp: ts, ReceivedAt: ts, IngestedAt: ts, SentAt: ts, AppVersion: "4.2.0",
			Metadata: map[string]string{"screen": "home", "build": "1042", "dark_mode": "true", "network": "wifi", "locale": "en_US"},
			Message:  "user interaction recorded by the mobile sdk", ClockSkewMs: -120, HasClockSkew: true, OsName: "iOS", OsVersion: "18.1",
			DeviceModel: "iPhone15,2", Country: "DE", City: "Berlin", Locale: "de_DE", Timezone: "Europe/Berlin", SdkName: "evtrack-swift", SdkVersion: "1.0.0",
		})
	}
	m := newMarshaler()
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.JSONPb.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
