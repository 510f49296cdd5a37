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
			var doc struct {
				IndexPatterns []string `json:"index_patterns"`
				Template      struct {
					Mappings struct {
						Dynamic    string                    `json:"dynamic"`
						Properties map[string]map[string]any `json:"properties"`
					} `json:"mappings"`
				} `json:"template"`
			}
			if err := json.Unmarshal(tpl.Body, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.IndexPatterns) != 1 || doc.IndexPatterns[0] != tt.wantPattern {
				t.Errorf("patterns %v, want [%s]", doc.IndexPatterns, tt.wantPattern)
			}
			if doc.Template.Mappings.Dynamic != "strict" {
				t.Errorf("dynamic %q: user-chosen keys must not grow the mapping", doc.Template.Mappings.Dynamic)
			}
			for field, typ := range map[string]string{
				"app_id": "keyword", "user_id": "keyword", "event_id": "keyword", "doc_id": "keyword",
				"timestamp": "date", "metadata": "flat_object", "message": "text", "country": "keyword",
				"os_name": "keyword", "clock_skew_ms": "long",
			} {
				if got := doc.Template.Mappings.Properties[field]["type"]; got != typ {
					t.Errorf("%s mapped as %v, want %s", field, got, typ)
				}
			}
		})
	}
}

// TestMappingCoversDocument: the mapping is strict, so every field the
// enrich service writes must be mapped, and nothing mapped may be unused.
func TestMappingCoversDocument(t *testing.T) {
	tpl, _ := Events(DefaultEventsPrefix)
	var doc struct {
		Template struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(tpl.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var mapped, written []string
	for k := range doc.Template.Mappings.Properties {
		mapped = append(mapped, k)
	}
	st := reflect.TypeOf(eventdoc.Source{})
	for i := 0; i < st.NumField(); i++ {
		written = append(written, strings.Split(st.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(mapped)
	sort.Strings(written)
	if !reflect.DeepEqual(mapped, written) {
		t.Fatalf("mapping fields %v\ndocument fields %v", mapped, written)
	}
}

// TestDeadLetterMappingCoversLetter: the dead-letter mapping is strict, so
// every field of a dead letter must be mapped, and nothing mapped unused.
func TestDeadLetterMappingCoversLetter(t *testing.T) {
	tpl, _ := DeadLetter(DefaultEventsPrefix)
	var doc struct {
		Template struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(tpl.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var mapped, written []string
	for k := range doc.Template.Mappings.Properties {
		mapped = append(mapped, k)
	}
	st := reflect.TypeOf(eventdoc.DeadLetter{})
	for i := 0; i < st.NumField(); i++ {
		written = append(written, strings.Split(st.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(mapped)
	sort.Strings(written)
	if !reflect.DeepEqual(mapped, written) {
		t.Fatalf("mapping fields %v\ndead-letter fields %v", mapped, written)
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
