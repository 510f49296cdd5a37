package service

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/evtrack/telemetry/contracts/fixtures"
)

// TestTrackFixtures: every golden exchange in contracts/fixtures/track — the
// files the SDKs' tests decode — is what a real ingest answers: status, the
// listed headers exactly, and the JSON body value for value. A change to an
// answer fails here until the fixture (and so the SDKs' tests) follow.
func TestTrackFixtures(t *testing.T) {
	all, err := fixtures.TrackFixtures()
	if err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, e *ingestEnv, r fixtures.Request) response {
		t.Helper()
		body, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return e.post(t, request{header: r.Headers, body: body})
	}
	for _, f := range all {
		t.Run(f.Name, func(t *testing.T) {
			e := startIngest(t, "", f.ServerEnv)
			for i, s := range f.Setup {
				if res := send(t, e, s.Request); res.status != s.Status {
					t.Fatalf("setup request %d: %d %s, want %d", i, res.status, res.raw, s.Status)
				}
			}
			res := send(t, e, f.Request)
			if res.status != f.Response.Status {
				t.Errorf("status %d, fixture says %d", res.status, f.Response.Status)
			}
			for k, v := range f.Response.Headers {
				if got := res.header.Get(k); got != v {
					t.Errorf("header %s: %q, fixture says %q", k, got, v)
				}
			}
			var want any
			if err := json.Unmarshal(f.Response.Body, &want); err != nil {
				t.Fatal(err)
			}
			var got any
			if err := json.Unmarshal(res.raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body differs from the fixture:\n got %s\nwant %s", res.raw, compact(f.Response.Body))
			}
		})
	}
}

func compact(raw json.RawMessage) string {
	var v any
	_ = json.Unmarshal(raw, &v)
	b, _ := json.Marshal(v)
	return string(b)
}
