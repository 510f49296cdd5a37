package track

import (
	"bytes"
	"fmt"
)

// ShapeLimits bound what a body may hold before anything is decoded from it.
// They are checked by a pass over the bytes that allocates nothing, so a
// body of a million tiny elements is refused after reading the first
// MaxEvents+1 of them.
type ShapeLimits struct {
	MaxEvents int // elements of the events array
	MaxTokens int // JSON: ',', ':', '[' and '{' outside strings; bounds the parsed values
}

// shapeLimits derives the pre-decode bounds from the batch limits: every
// event may carry its fields and its metadata keys, and nothing more.
func shapeLimits(lim Limits) ShapeLimits {
	// An event is an object of at most ~12 fields plus its metadata object;
	// each key/value pair costs a ':' and a ',', each object a '{'.
	perEvent := 2*(16+lim.MaxMetadataKeys) + 4
	return ShapeLimits{MaxEvents: lim.MaxEvents, MaxTokens: lim.MaxEvents*perEvent + 64}
}

// maxJSONDepth is far more nesting than a batch needs (array, event,
// metadata) while leaving room for unknown fields, which are ignored.
const maxJSONDepth = 64

// JSONScanner checks the shape of a JSON body as it arrives, chunk by
// chunk: how many events the batch holds (the elements of a top-level
// array, or of any array that is a value of a top-level object — the
// envelope's "events"; counting every such array is conservative, whatever
// the key's spelling or escaping) and how many values in all. It does not
// validate JSON; the parser does that afterwards.
type JSONScanner struct {
	lim       ShapeLimits
	depth     int
	top       byte // '[' or '{': the first byte that is not space
	inString  bool
	escaped   bool
	inEvents  bool // inside an events array, at its own depth
	wantValue bool // inside an events array, after '[' or ','
	events    int
	tokens    int
	err       error
}

// NewJSONScanner returns a scanner for one body.
func NewJSONScanner(lim ShapeLimits) *JSONScanner { return &JSONScanner{lim: lim} }

// Events is the number of events seen so far.
func (s *JSONScanner) Events() int { return s.events }

// Tokens is the number of structural tokens seen so far.
func (s *JSONScanner) Tokens() int { return s.tokens }

// Write scans p; it fails (a KindTooLarge *Error) as soon as a limit is
// passed, and keeps failing after that.
func (s *JSONScanner) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	for i := 0; i < len(p); i++ {
		if s.inString {
			if s.escaped {
				s.escaped = false
				continue
			}
			// Jump to the next quote or backslash: strings are most of a body.
			rest := p[i:]
			q := bytes.IndexByte(rest, '"')
			if q < 0 {
				q = len(rest)
			}
			if b := bytes.IndexByte(rest[:q], '\\'); b >= 0 {
				i += b
				s.escaped = true
				continue
			}
			if q == len(rest) {
				break
			}
			i += q
			s.inString = false
			continue
		}
		c := p[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		if s.top == 0 {
			s.top = c
		}
		eventsDepth := 1
		if s.top == '{' {
			eventsDepth = 2
		}
		if s.inEvents && s.depth == eventsDepth && s.wantValue && c != ']' {
			s.wantValue = false
			s.events++
			if s.events > s.lim.MaxEvents {
				s.err = &Error{Kind: KindTooLarge, Code: "too_many_events",
					Message: fmt.Sprintf("more than %d events in one batch; at most %d", s.lim.MaxEvents, s.lim.MaxEvents)}
				return i, s.err
			}
		}
		switch c {
		case '"':
			s.inString = true
		case '[', '{':
			s.depth++
			s.tokens++
			if s.depth > maxJSONDepth {
				s.err = &Error{Kind: KindInvalid, Code: "invalid_json",
					Message: fmt.Sprintf("nested deeper than %d levels; an event is an object of strings and a flat metadata object", maxJSONDepth)}
				return i, s.err
			}
			if c == '[' && s.depth == eventsDepth && (s.top == '[' || s.depth == 2) {
				s.inEvents, s.wantValue = true, true
			}
		case ']', '}':
			if s.inEvents && s.depth == eventsDepth {
				s.inEvents, s.wantValue = false, false
			}
			s.depth--
		case ',':
			s.tokens++
			if s.inEvents && s.depth == eventsDepth {
				s.wantValue = true
			}
		case ':':
			s.tokens++
		}
		if s.tokens > s.lim.MaxTokens {
			s.err = &Error{Kind: KindTooLarge, Code: "too_many_values",
				Message: fmt.Sprintf("the body holds more than %d JSON values; a batch holds at most %d events of at most their fields and metadata keys",
					s.lim.MaxTokens, s.lim.MaxEvents)}
			return i, s.err
		}
	}
	return len(p), nil
}
