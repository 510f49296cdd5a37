package opensearch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
)

// TestPersonQueryMatchesStoredIDs: a deletion matches the person's ids as
// enrich stored them — the id itself, and in a pseudonymised field its
// pseudonym under the current and every previous key — and nothing else.
func TestPersonQueryMatchesStoredIDs(t *testing.T) {
	cur, err := pseudonym.ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	prev, err := pseudonym.ParseKey(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	ring := pseudonym.Ring{Current: cur, Previous: []pseudonym.Key{prev}}
	person := deletion.Person{AppID: "app-1", UserID: "u-1", AnonymousID: "a-1"}
	tests := []struct {
		name         string
		pseudonyms   *Pseudonyms
		user, anonym []string
	}{
		{"ids stored as sent", nil, []string{"u-1"}, []string{"a-1"}},
		{"user_id pseudonymised", &Pseudonyms{Fields: []string{"user_id"}, Ring: ring},
			[]string{"u-1", cur.Of("u-1"), prev.Of("u-1")}, []string{"a-1"}},
		{"both pseudonymised", &Pseudonyms{Fields: []string{"user_id", "anonymous_id"}, Ring: ring},
			[]string{"u-1", cur.Of("u-1"), prev.Of("u-1")}, []string{"a-1", cur.Of("a-1"), prev.Of("a-1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDocuments(nil, "events")
			if tt.pseudonyms != nil {
				d = d.WithPseudonyms(*tt.pseudonyms)
			}
			b, err := json.Marshal(d.personQuery(person))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(m{"bool": m{"filter": []any{m{"term": m{"app_id": "app-1"}},
				m{"bool": m{"should": []any{m{"terms": m{"user_id": tt.user}}, m{"terms": m{"anonymous_id": tt.anonym}}}, "minimum_should_match": 1}}}}})
			if string(b) != string(want) {
				t.Errorf("query\n%s\nwant\n%s", b, want)
			}
		})
	}
}
