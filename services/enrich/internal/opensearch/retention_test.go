package opensearch

import (
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
)

func TestSamePolicy(t *testing.T) {
	want, _ := templates.RetentionPolicy("p", 30*24*time.Hour)
	tests := []struct {
		name   string
		stored string
		same   bool
	}{
		{"as stored by ISM", `{"policy_id":"p-retention","description":"x","last_updated_time":1,"schema_version":21,"error_notification":null,
			"default_state":"hot","states":[{"name":"hot","actions":[],"transitions":[{"state_name":"delete","conditions":{"min_index_age":"30d"}}]},{"name":"delete","actions":[{"delete":{}}],"transitions":[]}],
			"ism_template":[{"index_patterns":["p-*"],"priority":100,"last_updated_time":5}]}`, true},
		{"other age", `{"default_state":"hot","states":[{"name":"hot","actions":[],"transitions":[{"state_name":"delete","conditions":{"min_index_age":"7d"}}]},{"name":"delete","actions":[{"delete":{}}],"transitions":[]}],
			"ism_template":[{"index_patterns":["p-*"],"priority":100}]}`, false},
		{"other pattern", `{"default_state":"hot","states":[{"name":"hot","actions":[],"transitions":[{"state_name":"delete","conditions":{"min_index_age":"30d"}}]},{"name":"delete","actions":[{"delete":{}}],"transitions":[]}],
			"ism_template":[{"index_patterns":["q-*"],"priority":100}]}`, false},
		{"garbage", `[`, false},
	}
	for _, tt := range tests {
		if got := samePolicy([]byte(tt.stored), want.Body); got != tt.same {
			t.Errorf("%s: same = %v", tt.name, got)
		}
	}
}

func TestNoHandler(t *testing.T) {
	if !noHandler(400, []byte(`{"error":"no handler found for uri [/_plugins/_ism/policies/x] and method [GET]"}`)) {
		t.Error("plugin-missing answer not recognised")
	}
	if noHandler(404, []byte(`{"error":{"type":"status_exception","reason":"Policy not found"}}`)) {
		t.Error("policy-missing answer taken for plugin-missing")
	}
}

func TestNeedsCompaction(t *testing.T) {
	for _, tc := range []struct {
		name string
		docs shardSegments
		want bool
	}{
		{"empty shard", nil, false},
		{"one segment", shardSegments{1000}, false},
		{"a day's refreshes", shardSegments{400, 300, 200, 100}, true},
		{"merged, then a few late events", shardSegments{10000, 12, 3}, false},
		{"merged, then many late events", shardSegments{10000, 900, 300}, true},
		{"many small late segments", shardSegments{100000, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, true},
		{"ten segments, one holding 90%", shardSegments{9000, 200, 200, 100, 100, 100, 100, 100, 50, 50}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.docs.needsCompaction(); got != tc.want {
				t.Fatalf("needsCompaction(%v) = %v, want %v", tc.docs, got, tc.want)
			}
		})
	}
}
