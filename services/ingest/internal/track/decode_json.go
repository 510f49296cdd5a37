package track

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Input is one event as the client sent it, before validation.
type Input struct {
	EventID         string         `json:"event_id"`
	UserID          string         `json:"user_id"`
	AnonymousID     string         `json:"anonymous_id"`
	SessionID       string         `json:"session_id"`
	EventName       string         `json:"event_name"`
	ClientTimestamp string         `json:"client_timestamp"`
	AppVersion      string         `json:"app_version"`
	DeviceOS        string         `json:"device_os"`
	Metadata        map[string]any `json:"metadata"`
	Message         string         `json:"message"`

	// decodeErr is set when this element could not be decoded into the
	// fields above (for example a number where a string belongs).
	decodeErr *EventError
}

// Request is a decoded /v1/track body.
type Request struct {
	SentAt time.Time // zero when the client did not say
	Events []Input
}

// DecodeJSON parses a body that is either a JSON array of events or an
// envelope {"sent_at": "...", "events": [...]}. A body that is not JSON of
// either shape is a KindInvalid *Error saying where it broke; an element of
// the array that has the wrong shape only makes that event invalid.
func DecodeJSON(body []byte) (Request, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var raws []json.RawMessage
	var req Request
	switch {
	case len(trimmed) == 0:
		return req, &Error{Kind: KindInvalid, Code: "empty_body", Message: "the body is empty; send a JSON array of events"}
	case trimmed[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return req, syntaxError(err)
		}
	case trimmed[0] == '{':
		var env struct {
			SentAt *string            `json:"sent_at"`
			Events *[]json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return req, syntaxError(err)
		}
		if env.Events == nil {
			return req, &Error{Kind: KindInvalid, Code: "missing_events", Message: `field "events": required in the envelope form`}
		}
		raws = *env.Events
		if env.SentAt != nil {
			t, err := time.Parse(time.RFC3339Nano, *env.SentAt)
			if err != nil {
				return req, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": %q is not an RFC 3339 timestamp`, *env.SentAt)}
			}
			req.SentAt = t
		}
	default:
		return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: "offset 0: the body must be a JSON array of events or an object with an \"events\" array"}
	}
	req.Events = make([]Input, len(raws))
	for i, raw := range raws {
		in := &req.Events[i]
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(in); err != nil {
			*in = Input{EventID: peekEventID(raw)}
			in.decodeErr = elementError(i, in.EventID, err)
		}
	}
	return req, nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset %d: %s", se.Offset, se.Error())}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(body)"
		}
		return &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("field %q at offset %d: expected %s, got %s", field, te.Offset, te.Type, te.Value)}
	default:
		return &Error{Kind: KindInvalid, Code: "invalid_json", Message: err.Error()}
	}
}

func elementError(i int, eventID string, err error) *EventError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(event)"
		}
		return &EventError{Index: i, EventID: eventID, Field: field, Message: fmt.Sprintf("expected %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)}
	}
	return &EventError{Index: i, EventID: eventID, Field: "(event)", Message: err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	default:
		return goKind
	}
}

// peekEventID recovers event_id from an element that failed to decode, so the
// client can tell which of its events was rejected.
func peekEventID(raw json.RawMessage) string {
	var probe struct {
		EventID json.RawMessage `json:"event_id"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(probe.EventID, &id) != nil || len(id) > maxEventIDLen {
		return ""
	}
	return id
}

// metadataValue turns a JSON scalar into the stored string form.
func metadataValue(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	default: // nil, objects and arrays
		return "", false
	}
}
