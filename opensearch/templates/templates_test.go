package templates

import (
	"encoding/json"
	"testing"
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
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			name, body, err := Events(tt.prefix)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != tt.prefix {
				t.Errorf("name %q", name)
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
			if err := json.Unmarshal(body, &doc); err != nil {
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
				"timestamp": "date", "metadata": "flat_object", "message": "text",
			} {
				if got := doc.Template.Mappings.Properties[field]["type"]; got != typ {
					t.Errorf("%s mapped as %v, want %s", field, got, typ)
				}
			}
		})
	}
}
