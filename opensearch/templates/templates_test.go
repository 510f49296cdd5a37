package templates

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

func TestEvents(t *testing.T) {
	tests := []struct {
		prefix      string
		wantPattern string
		wantErr     bool
	}{
		{DefaultEventsPrefix, "telemetry-events-*", false},
		{"t-1234-events", "t-1234-events-*", false},
		{"Upper", "", true},
		{"", "", true},
		{"has space", "", true},
		{"-leading", "", true},
		{"deadletter", "", true},
		{"deadletter-telemetry", "", true}, // deadletter-telemetry-* would match telemetry-events' dead letters
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			tpl, err := Events(tt.prefix)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tpl.Name != tt.prefix {
				t.Errorf("name %q", tpl.Name)
			}
			m, err := tpl.Mapping()
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Patterns) != 1 || m.Patterns[0] != tt.wantPattern {
				t.Errorf("patterns %v, want [%s]", m.Patterns, tt.wantPattern)
			}
			if m.Dynamic != "strict" {
				t.Errorf("dynamic %q: user-chosen keys must not grow the mapping", m.Dynamic)
			}
			for field, typ := range map[string]string{
				"app_id": "keyword", "user_id": "keyword", "event_id": "keyword", "doc_id": "keyword",
				"timestamp": "date", "metadata": "flat_object", "message": "text", "country": "keyword",
				"os_name": "keyword", "clock_skew_ms": "long",
			} {
				if got := m.Types[field]; got != typ {
					t.Errorf("%s mapped as %v, want %s", field, got, typ)
				}
			}
		})
	}
}

// TestMappingCoversDocument: the events and dead-letter mappings are
// strict, so every field the enrich service writes into a document or a
// dead letter must be mapped, and nothing mapped may be unused.
func TestMappingCoversDocument(t *testing.T) {
	for _, tt := range []struct {
		name  string
		build func(string) (Template, error)
		doc   any // what is written into the indices
		what  string
	}{
		{"events", Events, eventdoc.Source{}, "document"},
		{"dead letters", DeadLetter, eventdoc.DeadLetter{}, "dead-letter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tpl, _ := tt.build(DefaultEventsPrefix)
			m, err := tpl.Mapping()
			if err != nil {
				t.Fatal(err)
			}
			var mapped, written []string
			for k := range m.Types {
				mapped = append(mapped, k)
			}
			st := reflect.TypeOf(tt.doc)
			for i := 0; i < st.NumField(); i++ {
				written = append(written, strings.Split(st.Field(i).Tag.Get("json"), ",")[0])
			}
			sort.Strings(mapped)
			sort.Strings(written)
			if !reflect.DeepEqual(mapped, written) {
				t.Fatalf("mapping fields %v\n%s fields %v", mapped, tt.what, written)
			}
		})
	}
}

func TestDeadLetter(t *testing.T) {
	tpl, err := DeadLetter("t-1-events")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Name != "deadletter-t-1-events" || !strings.Contains(string(tpl.Body), `"index_patterns":["deadletter-t-1-events-*"]`) {
		t.Fatalf("%s %s", tpl.Name, tpl.Body)
	}
}

func TestAudit(t *testing.T) {
	tpl, err := Audit("t-1-events")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Name != "audit-t-1-events" || !strings.Contains(string(tpl.Body), `"index_patterns":["audit-t-1-events-*"]`) {
		t.Fatalf("%s %s", tpl.Name, tpl.Body)
	}
	def, err := Audit(DefaultEventsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		IndexPatterns []string `json:"index_patterns"`
	}
	if err := json.Unmarshal(def.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if want := eventdoc.AuditPattern(DefaultEventsPrefix); def.Name != "audit-"+DefaultEventsPrefix || !reflect.DeepEqual(doc.IndexPatterns, []string{want}) {
		t.Fatalf("default audit template %s patterns %v, want [%s]", def.Name, doc.IndexPatterns, want)
	}
}

// TestWithReplicas: every template's replica count is set, and nothing else
// of it changes.
func TestWithReplicas(t *testing.T) {
	for _, build := range []func(string) (Template, error){Events, DeadLetter, Audit} {
		tmpl, err := build(DefaultEventsPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 2} {
			got, err := tmpl.WithReplicas(n)
			if err != nil {
				t.Fatalf("%s: %v", tmpl.Name, err)
			}
			var before, after map[string]any
			if err := json.Unmarshal(tmpl.Body, &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got.Body, &after); err != nil {
				t.Fatal(err)
			}
			idx := after["template"].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)
			if idx["number_of_replicas"] != float64(n) || got.Name != tmpl.Name {
				t.Fatalf("%s with %d replicas: name %s, number_of_replicas %v", tmpl.Name, n, got.Name, idx["number_of_replicas"])
			}
			idx["number_of_replicas"] = before["template"].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)["number_of_replicas"]
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("%s: more than number_of_replicas changed", tmpl.Name)
			}
		}
		if _, err := tmpl.WithReplicas(-1); err == nil {
			t.Fatalf("%s: -1 replicas accepted", tmpl.Name)
		}
	}
}

// TestBuild: Build is the builder's template with the replicas set, and
// passes on the builder's error and WithReplicas's.
func TestBuild(t *testing.T) {
	want, err := Events(DefaultEventsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if want, err = want.WithReplicas(2); err != nil {
		t.Fatal(err)
	}
	got, err := Build(Events, DefaultEventsPrefix, 2)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Build(Events, %q, 2) = %s, %v; want %s", DefaultEventsPrefix, got.Name, err, want.Name)
	}
	for _, tt := range []struct {
		name     string
		prefix   string
		replicas int
	}{
		{"bad prefix", "Not A Prefix", 0},
		{"negative replicas", DefaultEventsPrefix, -1},
	} {
		if _, err := Build(Audit, tt.prefix, tt.replicas); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestEventsVersion: the events template states its version (3: dates as
// epoch milliseconds), which the benchmark keys its kept data set by.
func TestEventsVersion(t *testing.T) {
	if v, err := EventsVersion(); err != nil || v < 3 {
		t.Fatalf("EventsVersion() = %d, %v; want at least 3", v, err)
	}
}
