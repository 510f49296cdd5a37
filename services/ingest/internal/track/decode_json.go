package track

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

// Input is one event as the client sent it, before validation. Decoders
// fill Event directly (all but its client timestamp, which arrives as text);
// Validate completes it and hands out a pointer to it, so a valid event is
// built once and never copied.
type Input struct {
	Event           telemetryv1.Event
	ClientTimestamp string
	ts              timestamppb.Timestamp // storage for Event.ClientTimestamp

	// size is the bytes of the event's values and metadata keys and values,
	// checked against Limits.MaxEventBytes.
	size int
	// decodeErr is set when the element could not be read into the fields
	// above (a number where a string belongs, a nested metadata value, ...).
	decodeErr *EventError
}

// Request is a decoded /v1/track body.
type Request struct {
	SentAt time.Time // zero when the client did not say
	Events []Input
	// ContextIP is the client address the body itself reports (Segment's
	// context.ip), only when the edge was configured to trust it.
	ContextIP string
}

// Decoder turns request bodies into Requests. Before anything is built it
// checks the body's shape against the batch limits (a pass that allocates
// nothing) and charges what decoding will hold to the shared memory budget,
// so neither a body of a million tiny elements nor many large bodies at once
// can grow the process past its budget. JSON is walked once with no
// reflection, and per-event shape problems are reported against the event
// instead of failing the whole request. Safe for concurrent use.
type Decoder struct {
	lim          Limits
	shape        ShapeLimits
	segmentShape ShapeLimits
	budget       *Budget // nil: nothing is charged
	parsers      fastjson.ParserPool
}

// NewDecoder returns a decoder for batches within lim, charging budget.
func NewDecoder(lim Limits, budget *Budget) *Decoder {
	return &Decoder{lim: lim, shape: shapeLimits(lim), segmentShape: segmentShapeLimits(lim), budget: budget}
}

// Scanner returns a shape check for one JSON body, for an edge that wants
// to stop reading (or inflating) a body as soon as it is too large.
func (d *Decoder) Scanner() *JSONScanner { return NewJSONScanner(d.shape) }

// Bytes charged per structural JSON token (a parsed value with its key)
// and per event.
const (
	jsonTokenBytes = 112
	eventBytes     = int64(unsafe.Sizeof(Input{})) + 64
	entryBytes     = 96 // one metadata map entry
)

func (d *Decoder) take(n int64) (func(), error) {
	if d.budget == nil {
		return func() {}, nil
	}
	return d.budget.Take(n)
}

// JSON parses a body that is either a JSON array of events or an envelope
// {"sent_at": "...", "events": [...]}. A body that is not JSON of either
// shape is a KindInvalid *Error saying where it broke; too many events or
// values is KindTooLarge; an element of the array with the wrong shape only
// makes that event invalid. Call release when the Request is no longer used.
func (d *Decoder) JSON(body []byte) (req Request, release func(), err error) {
	sc := d.Scanner()
	if _, err := sc.Write(body); err != nil {
		return req, nil, err
	}
	return d.JSONScanned(body, sc)
}

// JSONScanned is JSON for a body sc (from Scanner) has already seen whole
// and passed — an edge that checked the body's shape while reading or
// inflating it does not scan it twice.
func (d *Decoder) JSONScanned(body []byte, sc *JSONScanner) (req Request, release func(), err error) {
	release, err = d.take(int64(sc.Tokens())*jsonTokenBytes + int64(sc.Events())*eventBytes + int64(len(body)))
	if err != nil {
		return req, nil, err
	}
	req, err = d.parseJSON(body)
	if err != nil {
		release()
		return req, nil, err
	}
	return req, release, nil
}

func (d *Decoder) parseJSON(body []byte) (Request, error) {
	var req Request
	p := d.parsers.Get()
	defer d.parsers.Put(p)
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
			t, err := time.Parse(time.RFC3339Nano, string(s))
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
		decodeEvent(i, ev, &req.Events[i], &a)
	}
	return req, nil
}

// arena holds the strings of one request. Its buffer is sized to the body,
// which bounds the total length of every string in it (unescaping only
// shortens), so appends never reallocate and strings made from it stay valid
// and unchanged.
type arena struct{ buf []byte }

func (a *arena) string(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(a.buf)+len(b) > cap(a.buf) {
		return string(b) // not for a body's own strings (Segment's flattened keys are bounded apart); stay correct anyway
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// text copies s, a string's contents as sent, into the arena unescaped
// (which only shortens it).
func (a *arena) text(s []byte, esc bool) string {
	if !esc {
		return a.string(s)
	}
	if len(a.buf)+len(s) > cap(a.buf) {
		return string(unescape(nil, s))
	}
	start := len(a.buf)
	a.buf = unescape(a.buf, s)
	return a.since(start)
}

// compact copies the JSON text s into the arena without its whitespace.
func (a *arena) compact(s []byte) string {
	if len(a.buf)+len(s) > cap(a.buf) {
		return string(appendCompact(nil, s))
	}
	start := len(a.buf)
	a.buf = appendCompact(a.buf, s)
	return a.since(start)
}

func (a *arena) since(start int) string {
	if len(a.buf) == start {
		return ""
	}
	return unsafe.String(&a.buf[start], len(a.buf)-start)
}

// decodeEvent copies one element's fields out of the parser's memory.
func decodeEvent(i int, v *fastjson.Value, in *Input, a *arena) {
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
			decodeMetadata(fv, in, a, fail)
		default:
			// Every string field of telemetry.v1.Event (event_gen.go).
			if p := eventString(&in.Event, string(key)); p != nil {
				*p = str(string(key), fv)
			}
		}
	})
	if bad != nil {
		bad.EventID = in.Event.EventId
		if len(bad.EventID) > maxChars("event_id") {
			bad.EventID = ""
		}
		in.Event.Reset()
		in.Event.EventId, in.ClientTimestamp, in.size, in.decodeErr = bad.EventID, "", 0, bad
	}
}

func decodeMetadata(v *fastjson.Value, in *Input, a *arena, fail func(field, format string, args ...any)) {
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

// syntaxError reports where an unparseable body broke. The fast parser does
// not give offsets, so the standard library re-reads the (already rejected)
// body to find one.
func syntaxError(body []byte, perr error) error {
	var raw json.RawMessage
	err := json.Unmarshal(body, &raw)
	var se *json.SyntaxError
	switch {
	case len(body) == 0 || isSpace(body):
		return &Error{Kind: KindInvalid, Code: "empty_body", Message: "the body is empty; send a JSON array of events"}
	case errors.As(err, &se):
		return &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset %d: %s", se.Offset, se.Error())}
	default:
		return &Error{Kind: KindInvalid, Code: "invalid_json", Message: "the body is not acceptable JSON: " + truncate(perr.Error(), 200)}
	}
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
