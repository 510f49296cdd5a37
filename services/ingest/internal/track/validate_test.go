package track

import (
	"strings"
	"testing"
)

func valid() Input {
	return Input{EventID: "e1", UserID: "u1", EventName: "open", ClientTimestamp: "2026-11-26T10:00:00Z"}
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
		{"anonymous only", func(in *Input) { in.UserID, in.AnonymousID = "", "a1" }, ""},
		{"missing event_id", func(in *Input) { in.EventID = "" }, "event_id"},
		{"event_id too long", func(in *Input) { in.EventID = strings.Repeat("x", 129) }, "event_id"},
		{"event_id 128 ok", func(in *Input) { in.EventID = strings.Repeat("x", 128) }, ""},
		{"missing event_name", func(in *Input) { in.EventName = "" }, "event_name"},
		{"event_name too long", func(in *Input) { in.EventName = strings.Repeat("n", 201) }, "event_name"},
		{"no user", func(in *Input) { in.UserID = "" }, "user_id"},
		{"missing timestamp", func(in *Input) { in.ClientTimestamp = "" }, "client_timestamp"},
		{"bad timestamp", func(in *Input) { in.ClientTimestamp = "yesterday" }, "client_timestamp"},
		{"timestamp without zone", func(in *Input) { in.ClientTimestamp = "2026-11-26T10:00:00" }, "client_timestamp"},
		{"invalid utf8 user", func(in *Input) { in.UserID = "\xff\xfe" }, "user_id"},
		{"invalid utf8 message", func(in *Input) { in.Message = "ok\xff" }, "message"},
		{"metadata", func(in *Input) { in.Metadata = map[string]string{"a": "x", "b": "true"} }, ""},
		{"metadata too many keys", func(in *Input) { in.Metadata = map[string]string{"a": "1", "b": "2", "c": "3"} }, "metadata"},
		{"metadata empty key", func(in *Input) { in.Metadata = map[string]string{"": "1"} }, "metadata"},
		{"metadata key too long", func(in *Input) { in.Metadata = map[string]string{strings.Repeat("k", 129): "1"} }, "metadata"},
		{"metadata invalid utf8 key", func(in *Input) { in.Metadata = map[string]string{"\xff": "1"} }, "metadata"},
		{"metadata invalid utf8 value", func(in *Input) { in.Metadata = map[string]string{"a": "\xff"} }, "metadata.a"},
		{"event too large", func(in *Input) { in.size = 201 }, "(event)"},
		{"decode error kept", func(in *Input) { in.decodeErr = &EventError{Field: "user_id", Message: "expected a string"} }, "user_id"},
		{"invalid utf8 anonymous_id", func(in *Input) { in.AnonymousID = "\xc3" }, "anonymous_id"},
		{"session_id too long", func(in *Input) { in.SessionID = strings.Repeat("s", 257) }, "session_id"},
		{"app_version too long", func(in *Input) { in.AppVersion = strings.Repeat("v", 129) }, "app_version"},
		{"device_os too long", func(in *Input) { in.DeviceOS = strings.Repeat("o", 129) }, "device_os"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.mutate(&in)
			events, res := Validate([]Input{in}, lim)
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
	a, b, bad := valid(), valid(), valid()
	b.EventID = "e2"
	bad.EventID, bad.EventName = "e3", ""
	events, res := Validate([]Input{a, b, a, bad}, Limits{MaxEvents: 10, MaxMetadataKeys: 10, MaxEventBytes: 1000})
	if len(events) != 2 || res.Accepted != 2 || res.Duplicates != 1 || res.Rejected != 1 {
		t.Fatalf("got %d events, %+v", len(events), res)
	}
	if res.Errors[0].Index != 3 || res.Errors[0].EventID != "e3" {
		t.Fatalf("error %+v", res.Errors[0])
	}
}
