package track

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// segmentDiffCalls are the ways a body is decoded in the comparison: as a
// batch with the key in the header, as one that carries its key, and as
// each single call.
var segmentDiffCalls = []struct {
	name      string
	call      SegmentCall
	authorize bool
}{
	{"batch", SegmentBatch, false},
	{"batch, key in the body", SegmentBatch, true},
	{"track", SegmentTrack, false},
	{"identify, key in the body", SegmentIdentify, true},
	{"page", SegmentPage, false},
	{"screen", SegmentScreen, false},
	{"group", SegmentGroup, false},
	{"alias", SegmentAlias, false},
}

// checkSegmentDecodersAgree decodes body with the in-place decoder and with
// the tree-building one it replaced, and fails unless both give the same
// request (every event field, metadata, timestamp, size, error) or the
// same error. Bodies that fail the shape check are not decoded by either.
// Bodies with an escaped object key are left out: for duplicate keys
// spelled differently the tree picked a member depending on the order of
// its earlier lookups, which the in-place decoder does not imitate.
func checkSegmentDecodersAgree(t *testing.T, body []byte) {
	t.Helper()
	d := NewDecoder(testLimits(), nil)
	sc := d.SegmentScanner()
	if _, err := sc.Write(body); err != nil || hasEscapedKey(body) {
		return
	}
	for _, c := range segmentDiffCalls {
		var keys [2]string
		opts := func(n int) SegmentOptions {
			// New ids are not compared (the in-place decoder may map a
			// batch twice, drawing more of them): both decoders give "new".
			o := SegmentOptions{Call: c.call, Now: segmentNow, TrustContextIP: true,
				NewID: func() string { return "new" }}
			if c.authorize {
				o.Authorize = func(key string) error {
					keys[n] = key
					if key == "refused" {
						return errRefused
					}
					return nil
				}
			}
			return o
		}
		got, gotErr := parseSegment(body, sc.Events(), 0, opts(0))
		want, wantErr := parseSegmentDOM(body, opts(1))
		where := fmt.Sprintf("%s: %q", c.name, truncate(string(body), 300))
		if keys[0] != keys[1] {
			t.Fatalf("%s: Authorize saw %q, want %q", where, keys[0], keys[1])
		}
		if gotErr != nil || wantErr != nil {
			if !sameError(gotErr, wantErr) {
				t.Fatalf("%s: err = %v, want %v", where, gotErr, wantErr)
			}
			continue
		}
		if !got.SentAt.Equal(want.SentAt) || got.ContextIP != want.ContextIP || len(got.Events) != len(want.Events) {
			t.Fatalf("%s: sentAt %v, context ip %q, %d events; want %v, %q, %d",
				where, got.SentAt, got.ContextIP, len(got.Events), want.SentAt, want.ContextIP, len(want.Events))
		}
		for i := range got.Events {
			if diff := inputDiff(&got.Events[i], &want.Events[i]); diff != "" {
				t.Fatalf("%s: event %d: %s", where, i, diff)
			}
		}
	}
}

var errRefused = &Error{Kind: KindUnauthorized, Code: "unauthorized", Message: "refused"}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, oka := AsError(a)
	tb, okb := AsError(b)
	if !oka || !okb {
		return errors.Is(a, b)
	}
	return ta.Kind == tb.Kind && ta.Code == tb.Code && ta.Message == tb.Message
}

// inputDiff says how got differs from want ("" when it does not).
func inputDiff(got, want *Input) string {
	g, w := &got.Event, &want.Event
	for _, f := range []struct{ name, got, want string }{
		{"event_id", g.EventId, w.EventId}, {"user_id", g.UserId, w.UserId}, {"anonymous_id", g.AnonymousId, w.AnonymousId},
		{"session_id", g.SessionId, w.SessionId}, {"event_name", g.EventName, w.EventName}, {"app_version", g.AppVersion, w.AppVersion},
		{"device_os", g.DeviceOs, w.DeviceOs}, {"message", g.Message, w.Message}, {"os_name", g.OsName, w.OsName},
		{"os_version", g.OsVersion, w.OsVersion}, {"device_model", g.DeviceModel, w.DeviceModel}, {"locale", g.Locale, w.Locale},
		{"timezone", g.Timezone, w.Timezone}, {"sdk_name", g.SdkName, w.SdkName}, {"sdk_version", g.SdkVersion, w.SdkVersion},
		{"client_timestamp", got.ClientTimestamp, want.ClientTimestamp},
	} {
		if f.got != f.want {
			return fmt.Sprintf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if !maps.Equal(g.Metadata, w.Metadata) {
		return fmt.Sprintf("metadata %q, want %q", g.Metadata, w.Metadata)
	}
	if got.size != want.size {
		return fmt.Sprintf("size %d, want %d", got.size, want.size)
	}
	if !reflect.DeepEqual(got.decodeErr, want.decodeErr) {
		return fmt.Sprintf("error %+v, want %+v", got.decodeErr, want.decodeErr)
	}
	return ""
}

// hasEscapedKey reports whether any object key in body (valid JSON as the
// decoders read it) holds a backslash.
func hasEscapedKey(body []byte) bool {
	r := jsonReader{b: body}
	var walk func() bool
	walk = func() bool {
		switch r.peek() {
		case '{':
			for more := r.enter('}'); more; more = r.next('}') {
				if _, esc := r.key(); esc || walk() {
					return true
				}
			}
		case '[':
			for more := r.enter(']'); more; more = r.next(']') {
				if walk() {
					return true
				}
			}
		default:
			r.value()
		}
		return false
	}
	return walk() && r.err == nil
}

// segmentDiffBodies are bodies that take the decoders' less common paths.
var segmentDiffBodies = []string{
	// Whitespace everywhere, escapes in values and keys of properties.
	" {\n \"batch\" : [ { \"type\" : \"track\" , \"userId\" : \"u\\u00e9\\n\" , \"event\" : \"e\\\"q\\\\\" ,\n" +
		" \"properties\" : { \"a\\u0062\" : [ 1 , { \"x\" : \"y\" } ] , \"n\" : { } , \"z\" : null , \"t\" : true , \"f\" : false , \"num\" : -1.5e+3 } } ] , \"sentAt\" : \"2026-11-26T10:00:00Z\" } ",
	// Messages without messageId: derived ids, with whitespace and escapes.
	`{"batch":[{"type":"tr\u0061ck", "userId":"u","event":"e","properties":{"k":"v\/"}} , {"type":"identify","traits":{"a":1}}]}`,
	`{"type":"track","event":"e","userId":"u","sentAt":"2026-11-26T10:00:00\u005a","writeKey":"k\u0065y","properties":{"a":"b"}}`,
	// The type after the properties, properties twice, traits for track.
	`{"batch":[{"properties":{"a":"1"},"type":"track","messageId":"m","userId":"u","event":"e"},` +
		`{"type":"track","properties":{"a":"1"},"properties":{"b":"2"},"messageId":"m2","userId":"u","event":"e"},` +
		`{"type":"track","traits":{"a":"1"},"messageId":"m3","userId":"u","event":"e"},` +
		`{"type":"track","properties":{"a":"1"},"type":"identify","traits":{"b":2},"messageId":"m4","userId":"u"}]}`,
	// The batch context before, after, twice, not an object.
	`{"context":{"app":{"version":"1"},"locale":"en"},"batch":[{"type":"track","messageId":"m","userId":"u","event":"e","context":{"locale":null,"os":{"name":"iOS"}}}]}`,
	`{"batch":[{"type":"track","messageId":"m","userId":"u","event":"e","context":{"os":{"name":"iOS"}}}],"context":{"app":{"version":"1"},"os":{"version":"18"},"ip":"::ffff:10.0.0.1"}}`,
	`{"context":"x","batch":[{"type":"track","messageId":"m","userId":"u","event":"e"}],"context":{"app":{"version":"1"}}}`,
	`{"context":{"app":{"version":"1"}},"batch":[{"type":"page","messageId":"m","userId":"u","name":"Home","category":7}],"context":{"app":{"version":"2"}}}`,
	// Context members twice, app objects without a version, traits in the context.
	`{"batch":[{"type":"identify","messageId":"m","userId":"u","context":{"app":{"build":1},"app":{"version":"2","version":"3"},"os":{"name":"a"},"os":{"name":"b","version":"c"},"library":{"name":{}},"traits":{"email":"e@x","deep":{"x":[1, 2]}},"traits":{"no":1}}}]}`,
	`{"batch":[{"type":"group","messageId":"m","userId":"u","groupId":12,"context":{"traits":null}},{"type":"alias","messageId":"m2","userId":"u","previousId":{"x":1}}]}`,
	`{"batch":[{"type":"identify","messageId":"m","userId":"u","traits":null,"context":{"traits":{"a":"b"}}}]}`,
	// The batch twice, "batch" not first, writeKey and sentAt twice.
	`{"writeKey":"refused","batch":[{"type":"track"}],"batch":[],"writeKey":"k","sentAt":null,"sentAt":"x"}`,
	`{"sentAt":"2026-11-26T10:00:00.5+01:00","batch":[1,"x",null,true,false,[],{},{"type":null},{"type":{}},{"type":7},{"type":"launch"}]}`,
	// Numbers as the parser reads them.
	`{"batch":[{"type":"track","messageId":1e5,"userId":-0,"event":"e","properties":{"a":1-2,"b":Inf,"c":-nan,"d":+1}}]}`,
	// Oversized and control characters.
	`{"batch":[{"type":"track","messageId":"` + strings.Repeat("x", 200) + `","userId":"u\u0001","event":"e"}]}`,
	// Not bodies.
	``, ` `, `[]`, `"batch"`, `{"batch":{}}`, `{"batch":[}`, `{"batch":[],}`, `{"batch":[]} x`, `{"batch":[1,]}`, `{"a":tru}`, `{"a":nul}`,
	`{"a":"x`, `{"a" 1}`, `{1:2}`, `{"batch":[{"type":"track","properties":{"a":[1,2}}]}`,
}

// fuzzCorpus is the bodies of the fuzz target's corpus in testdata.
func fuzzCorpus(t *testing.T, target string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// "go test fuzz v1" and one []byte("...") line.
		_, lit, ok := strings.Cut(string(b), "[]byte(")
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", f)
		}
		s, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")")))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		bodies = append(bodies, s)
	}
	return bodies
}

// TestSegmentDecodersAgree compares the decoders over the tests' bodies,
// the fuzz corpus and bodies that take their less common paths.
func TestSegmentDecodersAgree(t *testing.T) {
	bodies := append([]string{string(segmentBenchBody())}, segmentDiffBodies...)
	bodies = append(bodies, fuzzCorpus(t, "FuzzDecodeSegment")...)
	for _, b := range bodies {
		checkSegmentDecodersAgree(t, []byte(b))
		// Each message alone, as a single call and as a batch of one.
		r := jsonReader{b: []byte(b)}
		if r.peek() != '{' {
			continue
		}
		for more := r.enter('}'); more; more = r.next('}') {
			k, _ := r.key()
			if string(k) != "batch" || r.peek() != '[' {
				r.skip()
				continue
			}
			for more := r.enter(']'); more; more = r.next(']') {
				v := r.value()
				msg := r.b[v.start:v.end]
				if v.kind == jsonString {
					msg = r.b[v.start-1 : v.end+1]
				}
				checkSegmentDecodersAgree(t, msg)
				checkSegmentDecodersAgree(t, []byte(`{"batch":[`+string(msg)+`]}`))
			}
		}
	}
	for _, tt := range []string{
		`{"type":"track","messageId":"m1","userId":"u1","anonymousId":"a1","event":"Order Completed","timestamp":"2026-11-26T10:00:00.123+02:00","properties":{"total":19.90,"currency":"EUR","coupon":null,"vip":true},"context":{"app":{"name":"Shop","version":"3.2.1","build":"321"},"os":{"name":"iOS","version":"18.1"},"device":{"model":"iPhone15,2","manufacturer":"Apple"},"locale":"en-GB","timezone":"Europe/London","library":{"name":"analytics-python","version":"2.4.0"},"ip":"203.0.113.9"}}`,
	} {
		checkSegmentDecodersAgree(t, []byte(tt))
		checkSegmentDecodersAgree(t, []byte(`{"batch":[`+tt+`]}`))
	}
}
