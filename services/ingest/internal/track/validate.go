package track

import (
	"fmt"
	"time"
	"unicode/utf8"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

const (
	maxEventIDLen   = 128
	maxEventNameLen = 200
	maxIDLen        = 256 // user_id, anonymous_id, session_id
	maxShortLen     = 128 // app_version, device_os

	maxMetadataKeyLen = 128
)

// Limits bound what one request may carry.
type Limits struct {
	MaxEvents       int // events per batch
	MaxMetadataKeys int // keys per event's metadata
	MaxEventBytes   int // bytes of one event's values, metadata keys and values
}

// Validate checks every event, converts the valid ones and keeps the first of
// each repeated event_id. The result's counts cover every input event.
func Validate(in []Input, lim Limits) ([]*telemetryv1.Event, Result) {
	res := Result{Errors: []EventError{}}
	events := make([]*telemetryv1.Event, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	for i := range in {
		e, verr := validateOne(i, &in[i], lim)
		if verr != nil {
			res.Rejected++
			res.Errors = append(res.Errors, *verr)
			continue
		}
		if _, dup := seen[e.EventId]; dup {
			res.Duplicates++
			continue
		}
		seen[e.EventId] = struct{}{}
		events = append(events, e)
	}
	res.Accepted = len(events)
	return events, res
}

func validateOne(i int, in *Input, lim Limits) (*telemetryv1.Event, *EventError) {
	if in.decodeErr != nil {
		return nil, in.decodeErr
	}
	e := &in.Event
	bad := func(field, format string, args ...any) *EventError {
		return &EventError{Index: i, EventID: e.EventId, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	for _, f := range [...]struct {
		name     string
		value    string
		required bool
		max      int
		id       bool // an identifier: no control characters
	}{
		{"event_id", e.EventId, true, maxEventIDLen, true},
		{"event_name", e.EventName, true, maxEventNameLen, true},
		{"user_id", e.UserId, false, maxIDLen, true},
		{"anonymous_id", e.AnonymousId, false, maxIDLen, true},
		{"session_id", e.SessionId, false, maxIDLen, true},
		{"app_version", e.AppVersion, false, maxShortLen, true},
		{"device_os", e.DeviceOs, false, maxShortLen, false},
	} {
		switch {
		case f.required && f.value == "":
			return nil, bad(f.name, "required")
		case len(f.value) > f.max && utf8.RuneCountInString(f.value) > f.max:
			return nil, bad(f.name, "longer than %d characters", f.max)
		case !utf8.ValidString(f.value):
			return nil, bad(f.name, "not valid UTF-8")
		case f.id && hasControl(f.value):
			return nil, bad(f.name, "contains a control character")
		}
	}
	if e.UserId == "" && e.AnonymousId == "" {
		return nil, bad("user_id", "user_id or anonymous_id is required")
	}
	if in.ClientTimestamp == "" {
		return nil, bad("client_timestamp", "required")
	}
	ts, err := time.Parse(time.RFC3339Nano, in.ClientTimestamp)
	if err != nil {
		return nil, bad("client_timestamp", "%q is not an RFC 3339 timestamp", truncate(in.ClientTimestamp, 64))
	}
	if !utf8.ValidString(e.Message) {
		return nil, bad("message", "not valid UTF-8")
	}
	if in.size > lim.MaxEventBytes {
		return nil, bad("(event)", "larger than %d bytes", lim.MaxEventBytes)
	}
	if len(e.Metadata) > lim.MaxMetadataKeys {
		return nil, bad("metadata", "more than %d keys", lim.MaxMetadataKeys)
	}
	for k, v := range e.Metadata {
		switch {
		case k == "" || utf8.RuneCountInString(k) > maxMetadataKeyLen:
			return nil, bad("metadata", "keys must be 1-%d characters", maxMetadataKeyLen)
		case !utf8.ValidString(k):
			return nil, bad("metadata", "keys must be valid UTF-8")
		case !utf8.ValidString(v):
			return nil, bad("metadata."+truncate(k, 64), "not valid UTF-8")
		}
	}
	in.ts.Seconds, in.ts.Nanos = ts.Unix(), int32(ts.Nanosecond())
	e.ClientTimestamp = &in.ts
	return e, nil
}

// hasControl reports whether s holds a C0 or C1 control character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}
