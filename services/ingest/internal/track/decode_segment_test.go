package track

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

var segmentNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// decodeSegment decodes body as call with the default limits and no budget.
func decodeSegment(t *testing.T, call SegmentCall, body string) (Request, error) {
	t.Helper()
	req, release, err := NewDecoder(testLimits(), nil).Segment([]byte(body), SegmentOptions{Call: call, Now: segmentNow})
	if release != nil {
		release()
	}
	return req, err
}

// TestSegmentMapping: each row is one message and the event it must become
// (after validation), or the Segment field its rejection names.
func TestSegmentMapping(t *testing.T) {
	const ctx = `"context":{"app":{"name":"Shop","version":"3.2.1","build":"321"},"os":{"name":"iOS","version":"18.1"},
		"device":{"model":"iPhone15,2","manufacturer":"Apple"},"locale":"en-GB","timezone":"Europe/London",
		"library":{"name":"analytics-python","version":"2.4.0"},"ip":"203.0.113.9"}`
	tests := []struct {
		name      string
		call      SegmentCall
		message   string
		want      *telemetryv1.Event // nil: rejected
		wantTS    string
		wantField string
	}{
		{"track with context", SegmentBatch,
			`{"type":"track","messageId":"m1","userId":"u1","anonymousId":"a1","event":"Order Completed","timestamp":"2026-11-26T10:00:00.123+02:00",
			"properties":{"total":19.90,"currency":"EUR","coupon":null,"vip":true},` + ctx + `}`,
			&telemetryv1.Event{EventId: "m1", UserId: "u1", AnonymousId: "a1", EventName: "Order Completed",
				AppVersion: "3.2.1", OsName: "iOS", OsVersion: "18.1", DeviceModel: "iPhone15,2", Locale: "en-GB", Timezone: "Europe/London",
				SdkName: "analytics-python", SdkVersion: "2.4.0",
				Metadata: map[string]string{"total": "19.90", "currency": "EUR", "vip": "true"}},
			"2026-11-26T08:00:00.123Z", ""},
		{"nested properties flattened, arrays as JSON", SegmentBatch,
			`{"type":"track","messageId":"m2","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z",
			"properties":{"product":{"id":"p1","price":9.5,"tags":["a","b"],"dims":{"w":1}},"empty":{},"list":[{"x":1},null]}}`,
			&telemetryv1.Event{EventId: "m2", UserId: "u", EventName: "e",
				Metadata: map[string]string{"product.id": "p1", "product.price": "9.5", "product.tags": `["a","b"]`, "product.dims.w": "1", "list": `[{"x":1},null]`}},
			"2026-11-26T10:00:00Z", ""},
		{"identify keeps traits", SegmentBatch,
			`{"type":"identify","messageId":"m3","userId":"u","traits":{"email":"a@b.c","plan":"pro","address":{"city":"Leeds"}},"timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m3", UserId: "u", EventName: "$identify",
				Metadata: map[string]string{"email": "a@b.c", "plan": "pro", "address.city": "Leeds"}},
			"2026-11-26T10:00:00Z", ""},
		{"identify: traits in context.traits (RudderStack)", SegmentBatch,
			`{"type":"identify","messageId":"m3r","userId":"u","context":{"traits":{"email":"a@b.c","address":{"city":"Leeds"}},"app":{"version":"2"}},"timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m3r", UserId: "u", EventName: "$identify", AppVersion: "2",
				Metadata: map[string]string{"email": "a@b.c", "address.city": "Leeds"}},
			"2026-11-26T10:00:00Z", ""},
		{"track ignores context.traits", SegmentBatch,
			`{"type":"track","messageId":"m3t","userId":"u","event":"e","context":{"traits":{"email":"a@b.c"}},"timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m3t", UserId: "u", EventName: "e"},
			"2026-11-26T10:00:00Z", ""},
		{"screen: name and category in metadata", SegmentBatch,
			`{"type":"screen","messageId":"m4","anonymousId":"a","name":"Checkout","category":"Shop","properties":{"step":2},"originalTimestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m4", AnonymousId: "a", EventName: "$screen", Metadata: map[string]string{"name": "Checkout", "category": "Shop", "step": "2"}},
			"2026-11-26T10:00:00Z", ""},
		{"page", SegmentBatch,
			`{"type":"page","messageId":"m5","userId":"u","name":"Home","timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m5", UserId: "u", EventName: "$page", Metadata: map[string]string{"name": "Home"}},
			"2026-11-26T10:00:00Z", ""},
		{"group", SegmentBatch,
			`{"type":"group","messageId":"m6","userId":"u","groupId":"g1","traits":{"name":"Acme"},"timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m6", UserId: "u", EventName: "$group", Metadata: map[string]string{"groupId": "g1", "name": "Acme"}},
			"2026-11-26T10:00:00Z", ""},
		{"alias", SegmentBatch,
			`{"type":"alias","messageId":"m7","userId":"u","previousId":"anon-1","timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m7", UserId: "u", EventName: "$alias", Metadata: map[string]string{"previousId": "anon-1"}},
			"2026-11-26T10:00:00Z", ""},
		{"timestamp wins over originalTimestamp", SegmentBatch,
			`{"type":"track","messageId":"m8","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","originalTimestamp":"2026-11-26T09:00:00Z"}`,
			&telemetryv1.Event{EventId: "m8", UserId: "u", EventName: "e"}, "2026-11-26T10:00:00Z", ""},
		{"no timestamp: the time received", SegmentBatch,
			`{"type":"track","messageId":"m9","userId":"u","event":"e"}`,
			&telemetryv1.Event{EventId: "m9", UserId: "u", EventName: "e"}, "2026-11-26T12:00:00Z", ""},
		{"numeric user id", SegmentBatch,
			`{"type":"track","messageId":"m10","userId":42,"event":"e","timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m10", UserId: "42", EventName: "e"}, "2026-11-26T10:00:00Z", ""},
		{"single track call: type from the path", SegmentTrack,
			`{"messageId":"m11","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m11", UserId: "u", EventName: "e"}, "2026-11-26T10:00:00Z", ""},
		{"single identify call", SegmentIdentify,
			`{"messageId":"m12","userId":"u","traits":{"a":"b"},"timestamp":"2026-11-26T10:00:00Z"}`,
			&telemetryv1.Event{EventId: "m12", UserId: "u", EventName: "$identify", Metadata: map[string]string{"a": "b"}}, "2026-11-26T10:00:00Z", ""},
		{"unknown type", SegmentBatch, `{"type":"launch","messageId":"x","userId":"u","timestamp":"2026-11-26T10:00:00Z"}`, nil, "", "type"},
		{"missing type", SegmentBatch, `{"messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z"}`, nil, "", "type"},
		{"track without event", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","timestamp":"2026-11-26T10:00:00Z"}`, nil, "", "event"},
		{"no user", SegmentBatch, `{"type":"track","messageId":"x","event":"e","timestamp":"2026-11-26T10:00:00Z"}`, nil, "", "userId"},
		{"bad timestamp", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"yesterday"}`, nil, "", "timestamp"},
		{"properties not an object", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":[1]}`, nil, "", "properties"},
		{"context not an object", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","context":"x"}`, nil, "", "context"},
		{"app version not a string", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","context":{"app":{"version":{}}}}`, nil, "", "context.app.version"},
		{"flattened key too long", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":{"` + strings.Repeat("k", 100) + `":{"` + strings.Repeat("k", 100) + `":1}}}`, nil, "", "properties"},
		{"too many properties", SegmentBatch, `{"type":"track","messageId":"x","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":{` + manyKeysJSON(101) + `}}`, nil, "", "properties"},
		{"message not an object", SegmentBatch, `"track"`, nil, "", "(message)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.message
			if tt.call == SegmentBatch {
				body = `{"batch":[` + tt.message + `]}`
			}
			req, err := decodeSegment(t, tt.call, body)
			if err != nil {
				t.Fatal(err)
			}
			events, res := Validate(req.Events, testLimits())
			if tt.want == nil {
				if res.Rejected != 1 || SegmentField(res.Errors[0].Field) != tt.wantField {
					t.Fatalf("result %+v, want one rejection of field %q", res, tt.wantField)
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("result %+v, want the event accepted", res)
			}
			got := events[0]
			if ts := got.ClientTimestamp.AsTime().UTC().Format(time.RFC3339Nano); ts != tt.wantTS {
				t.Errorf("client_timestamp %s, want %s", ts, tt.wantTS)
			}
			want := tt.want
			for _, f := range [][3]string{
				{"event_id", got.EventId, want.EventId}, {"user_id", got.UserId, want.UserId}, {"anonymous_id", got.AnonymousId, want.AnonymousId},
				{"event_name", got.EventName, want.EventName}, {"app_version", got.AppVersion, want.AppVersion},
				{"os_name", got.OsName, want.OsName}, {"os_version", got.OsVersion, want.OsVersion}, {"device_model", got.DeviceModel, want.DeviceModel},
				{"locale", got.Locale, want.Locale}, {"timezone", got.Timezone, want.Timezone},
				{"sdk_name", got.SdkName, want.SdkName}, {"sdk_version", got.SdkVersion, want.SdkVersion},
			} {
				if f[1] != f[2] {
					t.Errorf("%s = %q, want %q", f[0], f[1], f[2])
				}
			}
			if len(got.Metadata) != len(want.Metadata) {
				t.Errorf("metadata %v, want %v", got.Metadata, want.Metadata)
			}
			for k, v := range want.Metadata {
				if got.Metadata[k] != v {
					t.Errorf("metadata[%q] = %q, want %q", k, got.Metadata[k], v)
				}
			}
		})
	}
}

func manyKeysJSON(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `_` + time.Duration(i).String() + `":1`)
	}
	return b.String()
}

func TestSegmentBody(t *testing.T) {
	tests := []struct {
		name       string
		call       SegmentCall
		body       string
		wantCode   string
		wantEvents int
		wantSentAt bool
	}{
		{"batch with sentAt", SegmentBatch, `{"batch":[{"type":"track"},{"type":"identify"}],"sentAt":"2026-11-26T10:00:01.5+00:00","writeKey":"k"}`, "", 2, true},
		{"empty batch", SegmentBatch, `{"batch":[]}`, "", 0, false},
		{"no batch", SegmentBatch, `{"sentAt":"2026-11-26T10:00:00Z"}`, "missing_batch", 0, false},
		{"batch not an array", SegmentBatch, `{"batch":{}}`, "invalid_json", 0, false},
		{"our own array form", SegmentBatch, `[{"event_id":"a"}]`, "invalid_json", 0, false},
		{"bad sentAt", SegmentBatch, `{"batch":[],"sentAt":"soon"}`, "invalid_sent_at", 0, false},
		{"not JSON", SegmentBatch, `{"batch":[`, "invalid_json", 0, false},
		{"empty", SegmentBatch, ``, "empty_body", 0, false},
		{"single message with sentAt", SegmentTrack, `{"event":"e","sentAt":"2026-11-26T10:00:00Z"}`, "", 1, true},
		{"single message not an object", SegmentTrack, `[{"event":"e"}]`, "invalid_json", 0, false},
		{"deeply nested properties", SegmentTrack, `{"properties":` + strings.Repeat(`{"k":`, 100) + `1` + strings.Repeat(`}`, 100) + `}`, "invalid_json", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := decodeSegment(t, tt.call, tt.body)
			if tt.wantCode != "" {
				if te, ok := AsError(err); !ok || te.Code != tt.wantCode || te.Message == "" {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Events) != tt.wantEvents || req.SentAt.IsZero() == tt.wantSentAt {
				t.Fatalf("%d events, sentAt %v", len(req.Events), req.SentAt)
			}
		})
	}
}

func TestSegmentTooManyMessages(t *testing.T) {
	body := `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{},`, 1001), ",") + `]}`
	_, err := decodeSegment(t, SegmentBatch, body)
	if te, ok := AsError(err); !ok || te.Code != "too_many_events" || te.Kind != KindTooLarge {
		t.Fatalf("err = %v, want too_many_events", err)
	}
}

// TestSegmentBodyKey: the body's writeKey is handed to Authorize before any
// message is decoded, and its refusal ends the decoding.
func TestSegmentBodyKey(t *testing.T) {
	d := NewDecoder(testLimits(), NewBudget(64<<20))
	refuse := &Error{Kind: KindUnauthorized, Code: "unauthorized", Message: "no"}
	for _, tt := range []struct {
		body, wantKey string
		ok            bool
	}{
		{`{"writeKey":"good","batch":[{"type":"track"}]}`, "good", true},
		{`{"writeKey":"bad","batch":[{"type":"track"}]}`, "bad", false},
		{`{"batch":[{"type":"track"}]}`, "", false},
		{`{"writeKey":7,"batch":[]}`, "", false},
	} {
		var seen string
		req, release, err := d.Segment([]byte(tt.body), SegmentOptions{Call: SegmentBatch, Now: segmentNow, Authorize: func(k string) error {
			seen = k
			if k != "good" {
				return refuse
			}
			return nil
		}})
		if seen != tt.wantKey {
			t.Errorf("%s: Authorize saw %q, want %q", tt.body, seen, tt.wantKey)
		}
		if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, refuse)) {
			t.Errorf("%s: err = %v", tt.body, err)
		}
		if err == nil {
			if len(req.Events) != 1 {
				t.Errorf("%s: %d events", tt.body, len(req.Events))
			}
			release()
		}
	}
}

func TestSegmentContextIP(t *testing.T) {
	msg := func(ip string) string {
		return `{"type":"track","context":{"ip":"` + ip + `"}}`
	}
	for _, tt := range []struct {
		name, body string
		trust      bool
		want       string
	}{
		{"not trusted", `{"batch":[` + msg("203.0.113.9") + `]}`, false, ""},
		{"trusted, all agree", `{"batch":[` + msg("203.0.113.9") + `,` + msg("203.0.113.9") + `]}`, true, "203.0.113.9"},
		{"trusted, batch context", `{"context":{"ip":"2001:db8::1"},"batch":[{"type":"track"}]}`, true, "2001:db8::1"},
		{"trusted, messages differ", `{"batch":[` + msg("203.0.113.9") + `,` + msg("203.0.113.10") + `]}`, true, ""},
		{"trusted, not an address", `{"batch":[` + msg("localhost") + `]}`, true, ""},
		{"trusted, one without", `{"batch":[` + msg("203.0.113.9") + `,{"type":"track"}]}`, true, ""},
	} {
		req, release, err := NewDecoder(testLimits(), nil).Segment([]byte(tt.body), SegmentOptions{Call: SegmentBatch, Now: segmentNow, TrustContextIP: tt.trust})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		release()
		if req.ContextIP != tt.want {
			t.Errorf("%s: ContextIP %q, want %q", tt.name, req.ContextIP, tt.want)
		}
	}
}

// TestSegmentDerivedMessageID: a message without messageId gets an id made
// from its content, the same for a retry of the same message.
func TestSegmentDerivedMessageID(t *testing.T) {
	body := `{"batch":[{"type":"track","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z"},{"type":"track","userId":"u","event":"f","timestamp":"2026-11-26T10:00:00Z"}]}`
	a, _ := decodeSegment(t, SegmentBatch, body)
	b, _ := decodeSegment(t, SegmentBatch, body)
	ida, idb := a.Events[0].Event.EventId, b.Events[0].Event.EventId
	if !strings.HasPrefix(ida, "derived-") || ida != idb || ida == a.Events[1].Event.EventId {
		t.Fatalf("ids %q %q %q", ida, idb, a.Events[1].Event.EventId)
	}
}

// TestSegmentMessageWithoutIDOrTime: a message with neither messageId nor
// a time of its own gets a new id each time (as Segment assigns one): two
// such messages with the same content are two events. Before, both got
// the id derived from their content, and the second was dropped as a
// duplicate of the first.
func TestSegmentMessageWithoutIDOrTime(t *testing.T) {
	body := `{"batch":[{"type":"track","userId":"u9","event":"heartbeat"},{"type":"track","userId":"u9","event":"heartbeat"}]}`
	a, _ := decodeSegment(t, SegmentBatch, body)
	b, _ := decodeSegment(t, SegmentBatch, body)
	ids := []string{a.Events[0].Event.EventId, a.Events[1].Event.EventId, b.Events[0].Event.EventId}
	if !strings.HasPrefix(ids[0], "random-") || ids[0] == ids[1] || ids[0] == ids[2] || ids[1] == ids[2] {
		t.Fatalf("ids %q: want a new random- id for each", ids)
	}
}

func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"track","messageId":"m","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":{"a":{"b":[1]}},"context":{"app":{"version":"1"}}}],"sentAt":"2026-11-26T10:00:00Z"}`,
		`{"batch":[{"type":"identify","traits":{"x":null}},1,null,{"type":"alias"}],"context":{"ip":"::1"}}`,
		`{"batch":null}`, `[]`, "{\"batch\":[\xff]}", `{"batch":[{"type":"screen","name":7}]}`,
	} {
		f.Add([]byte(s))
	}
	for _, s := range segmentDiffBodies {
		f.Add([]byte(s))
	}
	d := NewDecoder(testLimits(), NewBudget(256<<20))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSegmentDecodersAgree(t, body)
		req, release, err := d.Segment(body, SegmentOptions{Call: SegmentBatch, Now: segmentNow, TrustContextIP: true})
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a *track.Error: %v", err)
			}
			return
		}
		events, res := Validate(req.Events, testLimits())
		if res.Accepted+res.Rejected+res.Duplicates != len(req.Events) || res.Accepted != len(events) {
			t.Fatalf("counts %+v do not cover %d events", res, len(req.Events))
		}
		release()
	})
}

// TestSegmentFlattenBounded: a flattened key repeats its prefix for every
// member under it, so properties can flatten to far more than the body that
// carries them. An event whose properties flatten past MaxEventBytes is
// refused as too large as soon as they do, without the keys being copied:
// decoding allocates about what the body holds, not (members × prefix).
// Properties that flatten to ten times their size, under the limit, are
// kept whole.
func TestSegmentFlattenBounded(t *testing.T) {
	members := func(n int, distinct bool) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if distinct {
				fmt.Fprintf(&b, `"m%d":1`, i)
			} else {
				b.WriteString(`"a":1`)
			}
		}
		return b.String()
	}
	long := strings.Repeat("k", 64<<10)
	message := func(props string) string {
		return `{"type":"track","messageId":"m1","userId":"u","event":"e","timestamp":"2026-11-26T10:00:00Z","properties":` + props + `}`
	}
	tests := []struct {
		name     string
		props    string
		accepted bool
	}{
		{"a 64 KiB key over 5,000 members", `{"` + long + `":{` + members(5000, false) + `}}`, false},
		{"a 64 KiB key over 5,000 distinct members, two levels down", `{"` + long + `":{"x":{` + members(5000, true) + `}}}`, false},
		{"a 120-character prefix over 100 members, under the limit", `{"` + strings.Repeat("p", 120) + `":{` + members(100, true) + `}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(`{"batch":[` + message(tt.props) + `]}`)
			dec := NewDecoder(testLimits(), NewBudget(256<<20))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			req, release, err := dec.Segment(body, SegmentOptions{Call: SegmentBatch, Now: segmentNow})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			alloc := after.TotalAlloc - before.TotalAlloc
			events, res := Validate(req.Events, testLimits())
			t.Logf("body %d bytes: decoding allocated %d bytes; %+v", len(body), alloc, res)
			if limit := 4*uint64(len(body)) + 1<<20; alloc > limit {
				t.Errorf("decoding allocated %d bytes for a body of %d: over %d", alloc, len(body), limit)
			}
			if tt.accepted {
				if len(events) != 1 || len(events[0].Metadata) != 100 {
					t.Fatalf("%+v: want the event accepted with its 100 properties", res)
				}
				return
			}
			if res.Rejected != 1 || res.Errors[0].Field != "(event)" || res.Errors[0].Message != "larger than 32768 bytes" {
				t.Fatalf("%+v: want the event refused as larger than 32768 bytes", res)
			}
		})
	}
}
