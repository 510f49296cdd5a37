package track

import (
	"fmt"

	"github.com/valyala/fastjson"
)

// parseJSONDOM is the /v1/track JSON decoder the in-place one replaced: it
// parses the body into a fastjson tree and walks it. Kept as the reference
// the in-place decoder is compared with (decode_json_diff_test.go).
func parseJSONDOM(body []byte) (Request, error) {
	var req Request
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return req, syntaxError(body, err)
	}
	var events []*fastjson.Value
	switch v.Type() {
	case fastjson.TypeArray:
		events, _ = v.Array()
	case fastjson.TypeObject:
		ev := v.Get("events")
		if ev == nil {
			msg := `field "events": required in the envelope form`
			if v.Get("batch") != nil || v.Get("type") != nil {
				msg += "; a Segment batch or message goes to /v1/batch or /segment/v1/<call>"
			}
			return req, &Error{Kind: KindInvalid, Code: "missing_events", Message: msg}
		}
		if events, err = ev.Array(); err != nil {
			return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf(`field "events": expected an array, got %s`, ev.Type())}
		}
		if sv := v.Get("sent_at"); sv != nil && sv.Type() != fastjson.TypeNull {
			s, err := sv.StringBytes()
			if err != nil {
				return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": expected an RFC 3339 string, got %s`, sv.Type())}
			}
			t, err := parseTime(string(s))
			if err != nil {
				return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": %q is not an RFC 3339 timestamp`, truncate(string(s), 64))}
			}
			req.SentAt = t
		}
	default:
		return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset 0: the body must be a JSON array of events or an object with an \"events\" array, not %s", v.Type())}
	}
	req.Events = make([]Input, len(events))
	// Every string of the request is copied out of the parser into one
	// arena: one allocation per request instead of one per field.
	a := arena{buf: make([]byte, 0, len(body))}
	for i, ev := range events {
		decodeEventDOM(i, ev, &req.Events[i], &a)
	}
	return req, nil
}

// decodeEventDOM copies one element's fields out of the parser's memory.
func decodeEventDOM(i int, v *fastjson.Value, in *Input, a *arena) {
	obj, err := v.Object()
	if err != nil {
		in.decodeErr = &EventError{Index: i, Field: "(event)", Message: fmt.Sprintf("expected an object, got %s", v.Type())}
		return
	}
	var bad *EventError
	fail := func(field, format string, args ...any) {
		if bad == nil {
			bad = &EventError{Index: i, Field: field, Message: fmt.Sprintf(format, args...)}
		}
	}
	str := func(field string, fv *fastjson.Value) string {
		switch fv.Type() {
		case fastjson.TypeString:
			b, _ := fv.StringBytes()
			in.size += len(b)
			return a.string(b)
		case fastjson.TypeNull:
			return ""
		default:
			fail(field, "expected a string, got %s", fv.Type())
			return ""
		}
	}
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		switch string(key) {
		case "client_timestamp":
			in.ClientTimestamp = str("client_timestamp", fv)
		case "metadata":
			decodeMetadataDOM(fv, in, a, fail)
		default:
			// Every string field of telemetry.v1.Event (event_gen.go).
			if p := eventString(&in.Event, string(key)); p != nil {
				*p = str(string(key), fv)
			}
		}
	})
	if bad != nil {
		in.invalid(bad)
	}
}

func decodeMetadataDOM(v *fastjson.Value, in *Input, a *arena, fail func(field, format string, args ...any)) {
	switch v.Type() {
	case fastjson.TypeNull:
		return
	case fastjson.TypeObject:
	default:
		fail("metadata", "expected an object, got %s", v.Type())
		return
	}
	obj, _ := v.Object()
	if obj.Len() == 0 {
		return
	}
	in.Event.Metadata = make(map[string]string, obj.Len())
	var num [32]byte
	obj.Visit(func(key []byte, mv *fastjson.Value) {
		var s string
		switch mv.Type() {
		case fastjson.TypeString:
			b, _ := mv.StringBytes()
			s = a.string(b)
		case fastjson.TypeNumber:
			s = a.string(mv.MarshalTo(num[:0]))
		case fastjson.TypeTrue:
			s = "true"
		case fastjson.TypeFalse:
			s = "false"
		default:
			fail("metadata."+truncate(string(key), 64), "must be a string, number or boolean, not %s", mv.Type())
			return
		}
		k := a.string(key)
		in.size += len(k) + len(s)
		in.Event.Metadata[k] = s
	})
}
