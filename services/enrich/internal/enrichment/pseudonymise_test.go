package enrichment

import (
	"reflect"
	"strings"
	"testing"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/pseudonym"
)

func testPseudonymKey(t *testing.T) pseudonym.Key {
	t.Helper()
	k, err := pseudonym.ParseKey(strings.Repeat("5e", 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPseudonymise(t *testing.T) {
	key := testPseudonymKey(t)
	in := eventdoc.Source{UserID: "user-1", AnonymousID: "device-9", SessionID: "s-3", EventID: "e-1", AppID: "app"}
	tests := []struct {
		name   string
		fields []string
		want   eventdoc.Source
	}{
		{"user_id", []string{"user_id"}, eventdoc.Source{UserID: key.Of("user-1"), AnonymousID: "device-9", SessionID: "s-3", EventID: "e-1", AppID: "app"}},
		{"user and anonymous ids", []string{"user_id", "anonymous_id"},
			eventdoc.Source{UserID: key.Of("user-1"), AnonymousID: key.Of("device-9"), SessionID: "s-3", EventID: "e-1", AppID: "app"}},
		{"all three", []string{"user_id", "anonymous_id", "session_id"},
			eventdoc.Source{UserID: key.Of("user-1"), AnonymousID: key.Of("device-9"), SessionID: key.Of("s-3"), EventID: "e-1", AppID: "app"}},
		{"none", nil, in},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := in
			NewPseudonymise(PseudonymiseConfig{Fields: tt.fields, Key: key}).ForBatch(&telemetryv1.EventBatch{})(&telemetryv1.Event{}, &d)
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("got %+v\nwant %+v", d, tt.want)
			}
		})
	}
	t.Run("unset stays unset", func(t *testing.T) {
		var d eventdoc.Source
		NewPseudonymise(PseudonymiseConfig{Fields: pseudonym.Fields(), Key: key}).ForBatch(&telemetryv1.EventBatch{})(&telemetryv1.Event{}, &d)
		if d.UserID != "" || d.AnonymousID != "" || d.SessionID != "" {
			t.Errorf("empty ids became %+v", d)
		}
	})
}

func TestPseudonymiseConfigValidate(t *testing.T) {
	key := testPseudonymKey(t)
	for _, tt := range []struct {
		name string
		cfg  PseudonymiseConfig
		ok   bool
	}{
		{"off", PseudonymiseConfig{}, true},
		{"user_id with key", PseudonymiseConfig{Fields: []string{"user_id"}, Key: key}, true},
		{"no key", PseudonymiseConfig{Fields: []string{"user_id"}}, false},
		{"unknown field", PseudonymiseConfig{Fields: []string{"event_id"}, Key: key}, false},
		{"key alone", PseudonymiseConfig{Key: key}, true},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
