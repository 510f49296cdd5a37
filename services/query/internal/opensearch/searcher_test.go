package opensearch

import (
	"encoding/json"
	"testing"

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
