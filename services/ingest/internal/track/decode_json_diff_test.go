package track

import (
	"fmt"
	"strings"
	"testing"
)

// checkJSONDecodersAgree decodes body with the in-place decoder and with
// the tree-building one it replaced, and fails unless both give the same
// request (every event field, metadata, timestamp, size, error) or the
// same error. Bodies that fail the shape check are not decoded by either.
// Envelopes with an escaped key are left out: for duplicate keys spelled
// differently the tree picked a member depending on the order of its
// earlier lookups, which the in-place decoder does not imitate (an event's
// keys are all unescaped by both).
func checkJSONDecodersAgree(t *testing.T, body []byte) {
	t.Helper()
	sc := NewDecoder(testLimits(), nil).Scanner()
	if _, err := sc.Write(body); err != nil || envelopeHasEscapedKey(body) {
		return
	}
	got, gotErr := parseJSON(body, sc.Events())
	want, wantErr := parseJSONDOM(body)
	where := fmt.Sprintf("%q", truncate(string(body), 300))
	if gotErr != nil || wantErr != nil {
		if !sameError(gotErr, wantErr) {
			t.Fatalf("%s: err = %v, want %v", where, gotErr, wantErr)
		}
		return
	}
	if !got.SentAt.Equal(want.SentAt) || len(got.Events) != len(want.Events) {
		t.Fatalf("%s: sent_at %v, %d events; want %v, %d", where, got.SentAt, len(got.Events), want.SentAt, len(want.Events))
	}
	for i := range got.Events {
		if diff := inputDiff(&got.Events[i], &want.Events[i]); diff != "" {
			t.Fatalf("%s: event %d: %s", where, i, diff)
		}
	}
}

// envelopeHasEscapedKey reports whether body (valid JSON as the decoders
// read it) is an object with a key that holds a backslash.
func envelopeHasEscapedKey(body []byte) bool {
	r := jsonReader{b: body}
	if r.peek() != '{' {
		return false
	}
	for more := r.enter('}'); more; more = r.next('}') {
		if _, esc := r.key(); esc {
			return true
		}
		r.skip()
	}
	return false
}

// jsonDiffBodies take the decoders' less common paths.
var jsonDiffBodies = []string{
	// Duplicate members: the last one of an event wins, metadata too.
	`[{"event_id":"a","event_id":"b","metadata":{"k":"1"},"metadata":{"j":2},"metadata":{}}]`,
	`{"events":[{"event_id":"a"}],"events":[{"event_id":"b"}],"sent_at":"2026-11-26T10:00:00Z","sent_at":1}`,
	`{"events":{},"events":[]}`, `{"sent_at":null,"events":[]}`, `{"batch":[],"type":"track"}`, `{"type":null}`,
	// Escapes in values and keys of events.
	`[{"event_id":"a\"b\\c\/d\u00e9\ud83d\ude00\uZZZZ\x","ev\u0065nt_name":"n","metadata":{"k\n":"v\t","\u006b":"w"}}]`,
	// Numbers as the parser reads them, literals, nested values.
	`[{"event_id":"a","metadata":{"a":1e5,"b":-0,"c":1-2,"d":Inf,"e":-nan,"f":+1,"g":true,"h":false,"i":null,"j":{},"k":[]}}]`,
	`[{"event_id":"a","user_id":nan},{"event_id":"b","metadata":nan},{"event_id":"c","metadata":[]},{"metadata":null}]`,
	`[{"event_id":"a","unknown":{"deep":[1,{"x":[true,null]}]},"client_timestamp":"2026-11-26T10:00:00Z"}]`,
	// Elements that are not objects.
	`[1,"x",null,true,[],{}]`, `[{"event_id":"` + strings.Repeat("x", 200) + `","user_id":5}]`,
	// Not bodies.
	``, ` `, `[]`, `{}`, `"events"`, `42`, `[1,]`, `[}`, `{"events":[]} x`, `{"a":tru}`, `{"a":nul}`, `{"a":"x`, `{"a" 1}`, `{1:2}`,
	`[{"metadata":{"a":[1,2}}]`, `[{"event_id":"a"`, "[\xff]", "[\"\xff\"]",
}

// TestJSONDecodersAgree compares the decoders over the tests' bodies, the
// fuzz corpus and bodies that take their less common paths.
func TestJSONDecodersAgree(t *testing.T) {
	bodies := append([]string{string(benchBody())}, jsonDiffBodies...)
	bodies = append(bodies, fuzzCorpus(t, "FuzzDecodeJSON")...)
	for _, b := range bodies {
		checkJSONDecodersAgree(t, []byte(b))
		// The same events in the envelope form.
		if r := (jsonReader{b: []byte(b)}); r.peek() == '[' {
			checkJSONDecodersAgree(t, []byte(`{"sent_at":"2026-11-26T10:00:00Z","events":`+b+`}`))
		}
	}
}
