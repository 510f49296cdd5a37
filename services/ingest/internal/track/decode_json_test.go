package track

import (
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantCode   string // whole-body error code, "" if none
		wantEvents int
		wantSentAt bool
		wantErrIdx map[int]string // element index -> field of its decode error
	}{
		{"array", `[{"event_id":"a","event_name":"x"},{"event_id":"b"}]`, "", 2, false, nil},
		{"envelope", `{"sent_at":"2026-11-26T10:00:00Z","events":[{"event_id":"a"}]}`, "", 1, true, nil},
		{"envelope without sent_at", `{"events":[]}`, "", 0, false, nil},
		{"unknown fields ignored", `[{"event_id":"a","extra":{"deep":[1,2]}}]`, "", 1, false, nil},
		{"empty", ``, "empty_body", 0, false, nil},
		{"whitespace", "  \n", "empty_body", 0, false, nil},
		{"not json", `hello`, "invalid_json", 0, false, nil},
		{"truncated", `[{"event_id":"a"`, "invalid_json", 0, false, nil},
		{"scalar", `42`, "invalid_json", 0, false, nil},
		{"envelope without events", `{"sent_at":"2026-11-26T10:00:00Z"}`, "missing_events", 0, false, nil},
		{"envelope events not array", `{"events":{}}`, "invalid_json", 0, false, nil},
		{"bad sent_at", `{"sent_at":"now","events":[]}`, "invalid_sent_at", 0, false, nil},
		{"sent_at past 9999 in UTC", `{"sent_at":"9999-12-31T23:59:59-23:59","events":[]}`, "invalid_sent_at", 0, false, nil},
		{"number where string belongs", `[{"event_id":"a","user_id":42},{"event_id":"b"}]`, "", 2, false, map[int]string{0: "user_id"}},
		{"element not an object", `[1,{"event_id":"b"}]`, "", 2, false, map[int]string{0: "(event)"}},
		{"metadata scalars become strings", `[{"event_id":"a","metadata":{"n":1.50,"b":false,"s":"x"}}]`, "", 1, false, nil},
		{"metadata not an object", `[{"event_id":"a","metadata":"x"}]`, "", 1, false, map[int]string{0: "metadata"}},
		{"nested metadata", `[{"event_id":"a","metadata":{"k":{"x":1}}},{"event_id":"b","metadata":{"k":[1]}}]`, "", 2, false, map[int]string{0: "metadata.k", 1: "metadata.k"}},
		{"null metadata value", `[{"event_id":"a","metadata":{"k":null}}]`, "", 1, false, map[int]string{0: "metadata.k"}},
		{"null optional field", `[{"event_id":"a","session_id":null}]`, "", 1, false, nil},
		{"bool where string belongs", `[{"event_id":"a","event_name":true}]`, "", 1, false, map[int]string{0: "event_name"}},
		{"deeply nested", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "invalid_json", 0, false, nil},
		{"envelope sent_at not a string", `{"sent_at":5,"events":[]}`, "invalid_sent_at", 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkJSONDecodersAgree(t, []byte(tt.body))
			req, err := decodeJSON([]byte(tt.body))
			if tt.wantCode != "" {
				te, ok := AsError(err)
				if !ok || te.Code != tt.wantCode || te.Kind != KindInvalid || te.Message == "" {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(req.Events) != tt.wantEvents || (!req.SentAt.IsZero()) != tt.wantSentAt {
				t.Fatalf("got %d events, sent_at %v", len(req.Events), req.SentAt)
			}
			for i := range req.Events {
				in := &req.Events[i]
				want, bad := tt.wantErrIdx[i]
				if bad != (in.decodeErr != nil) {
					t.Fatalf("event %d decodeErr %v, want field %q", i, in.decodeErr, want)
				}
				if bad && in.decodeErr.Field != want {
					t.Fatalf("event %d field %q, want %q", i, in.decodeErr.Field, want)
				}
			}
		})
	}
}

func TestDecodeJSONSyntaxErrorSaysWhere(t *testing.T) {
	_, err := decodeJSON([]byte(`[{"event_id": "a",, }]`))
	te, ok := AsError(err)
	if !ok || !strings.Contains(te.Message, "offset 19") {
		t.Fatalf("err = %v, want the offset of the error", err)
	}
}

func TestDecodeJSONKeepsEventIDOfBadElement(t *testing.T) {
	req, err := decodeJSON([]byte(`[{"event_id":"keep-me","client_timestamp":123}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Events[0].decodeErr; got == nil || got.EventID != "keep-me" || got.Field != "client_timestamp" {
		t.Fatalf("decodeErr %+v", got)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`[{"event_id":"a","user_id":"u","event_name":"x","client_timestamp":"2026-11-26T10:00:00Z","metadata":{"k":1,"b":true}}]`,
		`{"sent_at":"2026-11-26T10:00:00Z","events":[{"event_id":"a"}]}`,
		`[1,"x",null,{}]`, `{"events":null}`, "[\xff]", `[{"metadata":{"a":{"b":[]}}}]`,
	} {
		f.Add([]byte(s))
	}
	d := NewDecoder(testLimits(), NewBudget(256<<20))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkJSONDecodersAgree(t, body)
		req, release, err := d.JSON(body)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error is not a *track.Error: %v", err)
			}
			return
		}
		events, res := Validate(req.Events, Limits{MaxEvents: 1000, MaxMetadataKeys: 100, MaxEventBytes: 32 << 10})
		if res.Accepted+res.Rejected+res.Duplicates != len(req.Events) || res.Accepted != len(events) {
			t.Fatalf("counts %+v do not cover %d events", res, len(req.Events))
		}
		release()
	})
}

func TestDecodeJSONMetadataValues(t *testing.T) {
	req, err := decodeJSON([]byte(`[{"event_id":"a","metadata":{"n":1.50,"i":-3,"e":1e3,"b":false,"t":true,"s":"x\u00e9"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n": "1.50", "i": "-3", "e": "1e3", "b": "false", "t": "true", "s": "xé"}
	got := req.Events[0].Event.Metadata
	if len(got) != len(want) {
		t.Fatalf("metadata %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestDecodeJSONKeepsInvalidUTF8ForValidation(t *testing.T) {
	req, err := decodeJSON([]byte("[{\"event_id\":\"a\",\"user_id\":\"\xff\",\"event_name\":\"x\",\"client_timestamp\":\"2026-11-26T10:00:00Z\"}]"))
	if err != nil {
		t.Fatal(err)
	}
	_, res := Validate(req.Events, Limits{MaxEvents: 10, MaxMetadataKeys: 10, MaxEventBytes: 1000})
	if res.Rejected != 1 || res.Errors[0].Field != "user_id" {
		t.Fatalf("invalid UTF-8 not rejected: %+v", res)
	}
}

func testLimits() Limits {
	return Limits{MaxEvents: 1000, MaxMetadataKeys: 100, MaxEventBytes: 32 << 10}
}

// decodeJSON decodes body with the default limits and no memory budget.
func decodeJSON(body []byte) (Request, error) {
	req, release, err := NewDecoder(testLimits(), nil).JSON(body)
	if release != nil {
		release()
	}
	return req, err
}
