package track

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unsafe"

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

// invalid marks the event as one that could not be read: everything
// decoded of it is dropped but its id (when it is one validation would
// take), which bad reports it under.
func (in *Input) invalid(bad *EventError) {
	bad.EventID = in.Event.EventId
	if len(bad.EventID) > maxChars("event_id") {
		bad.EventID = ""
	}
	in.Event.Reset()
	in.Event.EventId, in.ClientTimestamp, in.size, in.decodeErr = bad.EventID, "", 0, bad
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
}

// NewDecoder returns a decoder for batches within lim, charging budget.
func NewDecoder(lim Limits, budget *Budget) *Decoder {
	return &Decoder{lim: lim, shape: shapeLimits(lim), segmentShape: segmentShapeLimits(lim), budget: budget}
}

// Scanner returns a shape check for one JSON body, for an edge that wants
// to stop reading (or inflating) a body as soon as it is too large.
func (d *Decoder) Scanner() *JSONScanner { return NewJSONScanner(d.shape) }

// Bytes charged per structural JSON token (a value with its key: at most
// a metadata entry, its slot in the map and its share of the scratch the
// entries are gathered in) and per event. With the body's length for the
// strings, they cover what decoding a JSON body allocates
// (TestChargeCoversWhatDecodingAllocates).
const (
	jsonTokenBytes = 112
	eventBytes     = int64(unsafe.Sizeof(Input{})) + 64
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
	req, err = parseJSON(body, sc.Events())
	if err != nil {
		release()
		return req, nil, err
	}
	return req, release, nil
}

// parseJSON reads the body once, in place: no tree of it is built, so what
// decoding allocates is the events, their strings (in one arena the size of
// the body) and their metadata maps, whatever else the body holds. events is
// the scanner's count of the events array's elements. The envelope's members
// are found as a lookup by name finds them (memberPick); its events array is
// decoded as soon as it is met when it is certain to be the one.
func parseJSON(body []byte, events int) (Request, error) {
	var req Request
	m := jsonMapper{r: jsonReader{b: body}}
	r := &m.r
	first := r.peek()
	if first != '[' && first != '{' {
		v := r.value()
		r.end()
		if r.err != nil {
			return req, syntaxError(body, r.err)
		}
		return req, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf("offset 0: the body must be a JSON array of events or an object with an \"events\" array, not %s", v.kind)}
	}
	req.Events = make([]Input, 0, events)
	m.a.buf = make([]byte, 0, len(body))
	if first == '[' {
		req.Events = m.decodeEvents(req.Events)
		r.end()
		if r.err != nil {
			return Request{}, syntaxError(body, r.err)
		}
		return req, nil
	}

	var env struct{ events, sentAt, batch, typ memberPick }
	decodedAt := -1
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch string(m.keyName(k, esc)) {
		case "events":
			if !esc && env.events.raw.kind == jsonAbsent && r.peek() == '[' {
				decodedAt = r.i
				req.Events = m.decodeEvents(req.Events)
				env.events.offer(jsonValue{kind: jsonArray, start: decodedAt, end: r.i}, false)
				continue
			}
			env.events.offer(r.value(), esc)
		case "sent_at":
			env.sentAt.offer(r.value(), esc)
		case "batch":
			env.batch.offer(r.value(), esc)
		case "type":
			env.typ.offer(r.value(), esc)
		default:
			r.skip()
		}
	}
	r.end()
	if r.err != nil {
		return Request{}, syntaxError(body, r.err)
	}

	ev := env.events.get()
	switch ev.kind {
	case jsonAbsent:
		msg := `field "events": required in the envelope form`
		if env.batch.get().kind != jsonAbsent || env.typ.get().kind != jsonAbsent {
			msg += "; a Segment batch or message goes to /v1/batch or /segment/v1/<call>"
		}
		return Request{}, &Error{Kind: KindInvalid, Code: "missing_events", Message: msg}
	case jsonArray:
	default:
		return Request{}, &Error{Kind: KindInvalid, Code: "invalid_json", Message: fmt.Sprintf(`field "events": expected an array, got %s`, ev.kind)}
	}
	if sv := env.sentAt.get(); sv.kind != jsonAbsent && sv.kind != jsonNull {
		if sv.kind != jsonString {
			return Request{}, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": expected an RFC 3339 string, got %s`, sv.kind)}
		}
		s := string(unescape(nil, r.text(sv)))
		t, err := parseTime(s)
		if err != nil {
			return Request{}, &Error{Kind: KindInvalid, Code: "invalid_sent_at", Message: fmt.Sprintf(`field "sent_at": %q is not an RFC 3339 timestamp`, truncate(s, 64))}
		}
		req.SentAt = t
	}
	if decodedAt != ev.start {
		// The events array is one spelled with an escape, met after the
		// body was read: decode it now.
		m.a.buf = m.a.buf[:0]
		r.i = ev.start
		req.Events = m.decodeEvents(req.Events[:0])
	}
	return req, nil
}

// jsonMapper turns the elements of a /v1/track events array into Inputs as
// it reads them, with scratch space reused from event to event.
type jsonMapper struct {
	r jsonReader
	a arena
	keyScratch
	pairs []metadataPair
}

// decodeEvents reads the array at r, appending one Input per element.
func (m *jsonMapper) decodeEvents(events []Input) []Input {
	r := &m.r
	for more := r.enter(']'); more; more = r.next(']') {
		events = append(events, Input{})
		m.decodeEvent(len(events)-1, &events[len(events)-1])
	}
	return events
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

// decodeEvent reads one element into in. A value of the wrong type makes
// the element invalid (the first such value is the one reported) but the
// element is still read to its end.
func (m *jsonMapper) decodeEvent(i int, in *Input) {
	r := &m.r
	if r.peek() != '{' {
		v := r.value()
		in.decodeErr = &EventError{Index: i, Field: "(event)", Message: fmt.Sprintf("expected an object, got %s", v.kind)}
		return
	}
	var bad *EventError
	fail := func(field, format string, args ...any) {
		if bad == nil {
			bad = &EventError{Index: i, Field: field, Message: fmt.Sprintf(format, args...)}
		}
	}
	str := func(field []byte) string {
		v := r.value()
		switch v.kind {
		case jsonString:
			s := m.a.text(r.text(v), v.esc)
			in.size += len(s)
			return s
		case jsonNull:
			return ""
		default:
			fail(string(field), "expected a string, got %s", v.kind)
			return ""
		}
	}
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		switch key := m.keyName(k, esc); string(key) {
		case "client_timestamp":
			in.ClientTimestamp = str(key)
		case "metadata":
			m.decodeMetadata(in, fail)
		default:
			// Every string field of telemetry.v1.Event (event_gen.go).
			if p := eventString(&in.Event, string(key)); p != nil {
				*p = str(key)
			} else {
				r.skip()
			}
		}
	}
	if bad != nil {
		in.invalid(bad)
	}
}

// decodeMetadata reads the metadata object at r: its entries are gathered
// first, so that the map is made once at its size.
func (m *jsonMapper) decodeMetadata(in *Input, fail func(field, format string, args ...any)) {
	r := &m.r
	if r.peek() != '{' {
		if v := r.value(); v.kind != jsonNull {
			fail("metadata", "expected an object, got %s", v.kind)
		}
		return
	}
	pairs := m.pairs[:0]
	for more := r.enter('}'); more; more = r.next('}') {
		k, esc := r.key()
		v := r.value()
		var s string
		switch v.kind {
		case jsonString:
			s = m.a.text(r.text(v), v.esc)
		case jsonNumber:
			s = m.a.string(r.text(v))
		case jsonTrue:
			s = "true"
		case jsonFalse:
			s = "false"
		default:
			fail("metadata."+truncate(string(m.keyName(k, esc)), 64), "must be a string, number or boolean, not %s", v.kind)
			continue
		}
		key := m.a.text(k, esc)
		in.size += len(key) + len(s)
		pairs = append(pairs, metadataPair{key, s})
	}
	m.pairs = pairs
	if len(pairs) == 0 {
		return
	}
	in.Event.Metadata = make(map[string]string, len(pairs))
	for _, p := range pairs {
		in.Event.Metadata[p.k] = p.v
	}
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
