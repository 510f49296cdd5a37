package track

import (
	"fmt"
	"time"
	"unicode/utf8"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// The string fields' rules are declared in contracts/proto/telemetry/v1/event.proto
// and derived into event_gen.go.

const maxMetadataKeyLen = 128

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
	for _, f := range stringRules(e) {
		switch {
		case f.required && f.value == "":
			return nil, bad(f.name, "required")
		case f.maxChars > 0 && len(f.value) > f.maxChars && utf8.RuneCountInString(f.value) > f.maxChars:
			return nil, bad(f.name, "longer than %d characters", f.maxChars)
		case !utf8.ValidString(f.value):
			return nil, bad(f.name, "not valid UTF-8")
		case f.identifier && hasControl(f.value):
			return nil, bad(f.name, "contains a control character")
		}
	}
	if field, names, missing := missingGroup(e); missing {
		return nil, bad(field, "%s is required", names)
	}
	if in.ClientTimestamp == "" {
		return nil, bad("client_timestamp", "required")
	}
	ts, err := parseTime(in.ClientTimestamp)
	if err != nil {
		return nil, bad("client_timestamp", "%q is not an RFC 3339 timestamp", truncate(in.ClientTimestamp, 64))
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

// parseTime reads an RFC 3339 time the pipeline can store: in UTC within
// the years 1 to 9999 (a time written with a year in range can leave it
// through its offset, and OpenSearch would refuse the document: the event
// would be acknowledged and then dead-lettered instead of refused here).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%q: year %d in UTC", s, y)
	}
	return t, nil
}
