package track

import (
	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"

	"strings"
	"testing"
)

func setValid(in *Input) {
	in.Event.EventId, in.Event.UserId, in.Event.EventName = "e1", "u1", "open"
	in.ClientTimestamp = "2026-11-26T10:00:00Z"
}

// valids returns n valid inputs with the same event id.
func valids(n int) []Input {
	in := make([]Input, n)
	for i := range in {
		setValid(&in[i])
	}
	return in
}

func TestValidateRules(t *testing.T) {
	lim := Limits{MaxEvents: 1000, MaxMetadataKeys: 2, MaxEventBytes: 200}
	tests := []struct {
		name      string
		mutate    func(*Input)
		wantField string // "" means valid
	}{
		{"valid", func(*Input) {}, ""},
		{"fractional timestamp", func(in *Input) { in.ClientTimestamp = "2026-11-26T10:00:00.123456+02:00" }, ""},
		{"anonymous only", func(in *Input) { in.Event.UserId, in.Event.AnonymousId = "", "a1" }, ""},
		{"missing event_id", func(in *Input) { in.Event.EventId = "" }, "event_id"},
		{"event_id too long", func(in *Input) { in.Event.EventId = strings.Repeat("x", 129) }, "event_id"},
		{"NUL in event_id", func(in *Input) { in.Event.EventId = "a\x00b" }, "event_id"},
		{"newline in user_id", func(in *Input) { in.Event.UserId = "u\n1" }, "user_id"},
		{"C1 control in session_id", func(in *Input) { in.Event.SessionId = "s\u00851" }, "session_id"},
		{"DEL in anonymous_id", func(in *Input) { in.Event.AnonymousId = "a\x7f" }, "anonymous_id"},
		{"non-ASCII letters in ids are fine", func(in *Input) { in.Event.UserId = "jürgen-東京" }, ""},
		{"event_id 128 ok", func(in *Input) { in.Event.EventId = strings.Repeat("x", 128) }, ""},
		{"missing event_name", func(in *Input) { in.Event.EventName = "" }, "event_name"},
		{"event_name too long", func(in *Input) { in.Event.EventName = strings.Repeat("n", 201) }, "event_name"},
		{"no user", func(in *Input) { in.Event.UserId = "" }, "user_id"},
		{"missing timestamp", func(in *Input) { in.ClientTimestamp = "" }, "client_timestamp"},
		{"bad timestamp", func(in *Input) { in.ClientTimestamp = "yesterday" }, "client_timestamp"},
		{"timestamp without zone", func(in *Input) { in.ClientTimestamp = "2026-11-26T10:00:00" }, "client_timestamp"},
		{"timestamp past 9999 in UTC", func(in *Input) { in.ClientTimestamp = "9999-12-31T23:59:59-23:59" }, "client_timestamp"},
		{"timestamp before year 1 in UTC", func(in *Input) { in.ClientTimestamp = "0001-01-01T00:00:00+01:00" }, "client_timestamp"},
		{"invalid utf8 user", func(in *Input) { in.Event.UserId = "\xff\xfe" }, "user_id"},
		{"invalid utf8 message", func(in *Input) { in.Event.Message = "ok\xff" }, "message"},
		{"metadata", func(in *Input) { in.Event.Metadata = map[string]string{"a": "x", "b": "true"} }, ""},
		{"metadata too many keys", func(in *Input) { in.Event.Metadata = map[string]string{"a": "1", "b": "2", "c": "3"} }, "metadata"},
		{"metadata empty key", func(in *Input) { in.Event.Metadata = map[string]string{"": "1"} }, "metadata"},
		{"metadata key too long", func(in *Input) { in.Event.Metadata = map[string]string{strings.Repeat("k", 129): "1"} }, "metadata"},
		{"metadata invalid utf8 key", func(in *Input) { in.Event.Metadata = map[string]string{"\xff": "1"} }, "metadata"},
		{"metadata invalid utf8 value", func(in *Input) { in.Event.Metadata = map[string]string{"a": "\xff"} }, "metadata.a"},
		{"event too large", func(in *Input) { in.size = 201 }, "(event)"},
		{"decode error kept", func(in *Input) { in.decodeErr = &EventError{Field: "user_id", Message: "expected a string"} }, "user_id"},
		{"invalid utf8 anonymous_id", func(in *Input) { in.Event.AnonymousId = "\xc3" }, "anonymous_id"},
		{"session_id too long", func(in *Input) { in.Event.SessionId = strings.Repeat("s", 257) }, "session_id"},
		{"app_version too long", func(in *Input) { in.Event.AppVersion = strings.Repeat("v", 129) }, "app_version"},
		{"device_os too long", func(in *Input) { in.Event.DeviceOs = strings.Repeat("o", 129) }, "device_os"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valids(1)
			tt.mutate(&in[0])
			events, res := Validate(in, lim)
			if tt.wantField == "" {
				if len(events) != 1 || res.Accepted != 1 || res.Rejected != 0 {
					t.Fatalf("want valid, got %+v", res)
				}
				return
			}
			if len(events) != 0 || res.Rejected != 1 || len(res.Errors) != 1 {
				t.Fatalf("want rejected, got %+v", res)
			}
			if got := res.Errors[0]; got.Field != tt.wantField || got.Index != 0 || got.Message == "" {
				t.Fatalf("error %+v, want field %q", got, tt.wantField)
			}
		})
	}
}

func TestValidateDuplicatesAndPartial(t *testing.T) {
	in := valids(4)
	in[1].Event.EventId = "e2"
	in[3].Event.EventId, in[3].Event.EventName = "e3", ""
	events, res := Validate(in, Limits{MaxEvents: 10, MaxMetadataKeys: 10, MaxEventBytes: 1000})
	if len(events) != 2 || res.Accepted != 2 || res.Duplicates != 1 || res.Rejected != 1 {
		t.Fatalf("got %d events, %+v", len(events), res)
	}
	if res.Errors[0].Index != 3 || res.Errors[0].EventID != "e3" {
		t.Fatalf("error %+v", res.Errors[0])
	}
}

// TestBatchIDIsUnambiguous: different lists of ids never share a batch id
// (a shared id would drop the second batch as a duplicate).
func TestBatchIDIsUnambiguous(t *testing.T) {
	ids := func(app string, ids ...string) string {
		events := make([]*telemetryv1.Event, len(ids))
		for i, id := range ids {
			events[i] = &telemetryv1.Event{EventId: id}
		}
		return BatchID(app, events)
	}
	pairs := [][2]string{
		{ids("app", "a\x00b"), ids("app", "a", "b")},
		{ids("app", "ab"), ids("app", "a", "b")},
		{ids("app\x00a"), ids("app", "a")},
		{ids("app", ""), ids("app")},
		{ids("app", "", ""), ids("app", "")},
	}
	for i, p := range pairs {
		if p[0] == p[1] {
			t.Errorf("pair %d: the same batch id for different id lists", i)
		}
	}
	if ids("app", "a", "b") != ids("app", "a", "b") {
		t.Error("the same request must keep its batch id")
	}
}
