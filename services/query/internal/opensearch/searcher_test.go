package opensearch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/evtrack/telemetry/platform/pseudonym"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

func TestBodyKeepsCallerValuesAsTermValues(t *testing.T) {
	hostile := `u1"}},{"match_all":{}}],"must":[{"script":{"source":"1"}}]}}//\`
	raw, err := Body(search.Query{Filters: search.Filters{Apps: []string{"app"}, UserID: hostile, Q: hostile}, Size: 10,
		After: &search.Cursor{TimestampMillis: 42, DocID: `x"]`}})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Size        int   `json:"size"`
		SearchAfter []any `json:"search_after"`
		Query       struct {
			Bool struct {
				Filter []map[string]map[string]any `json:"filter"`
				Must   []map[string]map[string]any `json:"must"`
			} `json:"bool"`
		} `json:"query"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Query.Bool.Filter) != 2 || len(body.Query.Bool.Must) != 1 {
		t.Fatalf("query grew clauses: %s", raw)
	}
	if got := body.Query.Bool.Filter[1]["term"]["user_id"]; got != hostile {
		t.Fatalf("user_id term %v, want the raw string", got)
	}
	sqs := body.Query.Bool.Must[0]["simple_query_string"]
	if sqs["query"] != hostile || sqs["flags"] != "AND|OR|NOT|PHRASE|PRECEDENCE|WHITESPACE|ESCAPE" {
		t.Fatalf("simple_query_string %v", sqs)
	}
	if body.Size != 11 || body.SearchAfter[0] != 42.0 || body.SearchAfter[1] != `x"]` {
		t.Fatalf("size/search_after: %s", raw)
	}
}

func TestBodyAllAppsHasNoAppFilter(t *testing.T) {
	raw, _ := Body(search.Query{Size: 5})
	var body struct {
		Query struct {
			Bool struct {
				Filter []any `json:"filter"`
			} `json:"bool"`
		} `json:"query"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || len(body.Query.Bool.Filter) != 0 {
		t.Fatalf("%s %v", raw, err)
	}
}

// TestBodyPseudonymisedFields: a filter on a pseudonymised field matches
// the value and its pseudonym under every key; other filters are as sent.
func TestBodyPseudonymisedFields(t *testing.T) {
	cur, err := pseudonym.ParseKey(strings.Repeat("c1", 32))
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := pseudonym.ParseKey(strings.Repeat("d2", 32))
	p := &Pseudonyms{Fields: []string{"user_id", "anonymous_id"}, Ring: pseudonym.Ring{Current: cur, Previous: []pseudonym.Key{prev}}}
	tests := []struct {
		name    string
		filters search.Filters
		want    []any // the filters, JSON-decoded
	}{
		{"user_id", search.Filters{UserID: "user-1"},
			[]any{map[string]any{"terms": map[string]any{"user_id": []any{"user-1", cur.Of("user-1"), prev.Of("user-1")}}}}},
		{"anonymous_id and a session", search.Filters{AnonymousID: "dev-1", SessionID: "s-1"},
			[]any{
				map[string]any{"terms": map[string]any{"anonymous_id": []any{"dev-1", cur.Of("dev-1"), prev.Of("dev-1")}}},
				map[string]any{"term": map[string]any{"session_id": "s-1"}},
			}},
		{"not a pseudonymised field", search.Filters{Country: "GB"}, []any{map[string]any{"term": map[string]any{"country": "GB"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := body(search.Query{Filters: tt.filters, Size: 1}, p)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Query struct {
					Bool struct {
						Filter []any `json:"filter"`
					} `json:"bool"`
				} `json:"query"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Query.Bool.Filter, tt.want) {
				t.Errorf("filters %v\nwant    %v", got.Query.Bool.Filter, tt.want)
			}
		})
	}
}
