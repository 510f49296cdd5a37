package opensearch

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// everyFilter returns Filters with every filter of the table set.
func everyFilter(t *testing.T) search.Filters {
	t.Helper()
	var f search.Filters
	v := reflect.ValueOf(&f).Elem()
	at := time.Date(2026, 11, 1, 10, 30, 0, 0, time.UTC)
	for i := range v.NumField() {
		switch fv := v.Field(i); fv.Interface().(type) {
		case string:
			fv.SetString("v" + v.Type().Field(i).Name)
		case []string:
			fv.Set(reflect.ValueOf([]string{"a", "b"}))
		case *time.Time:
			t := at.Add(time.Duration(i) * time.Hour)
			fv.Set(reflect.ValueOf(&t))
		case *bool:
			b := true
			fv.Set(reflect.ValueOf(&b))
		default:
			t.Fatalf("Filters.%s is a %s", v.Type().Field(i).Name, fv.Type())
		}
	}
	return f
}

// TestFilterFieldsAreMappedForTheirKind: every filter applies to document
// fields the events template maps with a type its kind can match (a term
// on a keyword, a range on a date, full text on text), so a row naming a
// field that does not exist, or is of another type, fails here rather than
// matching nothing.
func TestFilterFieldsAreMappedForTheirKind(t *testing.T) {
	tpl, err := templates.Events(templates.DefaultEventsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Mapping()
	if err != nil {
		t.Fatal(err)
	}
	types := map[search.Match][]string{
		search.MatchKeyword: {"keyword"}, search.MatchTimeRange: {"date"}, search.MatchBool: {"boolean"},
		search.MatchFullText: {"text", "flat_object"},
	}
	f := everyFilter(t)
	clauses := f.AppendClauses(nil)
	if len(clauses) == 0 {
		t.Fatal("no clauses")
	}
	for _, c := range clauses {
		for _, field := range c.Fields {
			if got := m.Types[field]; !slices.Contains(types[c.Match], got) {
				t.Errorf("a %v filter on %q, mapped as %q: want one of %v", c.Match, field, got, types[c.Match])
			}
		}
	}
}

// TestQueryForEveryFilter pins the query of every filter at once: the
// clauses as they were written by hand before the filter table (their
// order aside, which does not change the matches).
func TestQueryForEveryFilter(t *testing.T) {
	want := []string{
		`{"bool":{"minimum_should_match":1,"should":[{"term":{"os_name":"vDeviceOS"}},{"term":{"device_os":"vDeviceOS"}}]}}`,
		`{"range":{"timestamp":{"format":"epoch_millis","gte":1793557800000,"lt":1793561400000}}}`,
		`{"term":{"anonymous_id":"vAnonymousID"}}`,
		`{"term":{"app_version":"vAppVersion"}}`,
		`{"term":{"country":"vCountry"}}`,
		`{"term":{"device_model":"vDeviceModel"}}`,
		`{"term":{"locale":"vLocale"}}`,
		`{"term":{"os_version":"vOSVersion"}}`,
		`{"term":{"sdk_name":"vSDKName"}}`,
		`{"term":{"sdk_version":"vSDKVersion"}}`,
		`{"term":{"session_id":"vSessionID"}}`,
		`{"term":{"timezone":"vTimezone"}}`,
		`{"term":{"user_id":"vUserID"}}`,
		`{"terms":{"app_id":["a","b"]}}`,
		`{"terms":{"event_name":["a","b"]}}`,
	}
	wantMust := `[{"simple_query_string":{"default_operator":"and","fields":["message","metadata_text","metadata"],"flags":"AND|OR|NOT|PHRASE|PRECEDENCE|WHITESPACE|ESCAPE","lenient":true,"query":"vQ"}}]`
	raw, err := json.Marshal(queryFor(everyFilter(t), nil))
	if err != nil {
		t.Fatal(err)
	}
	var q struct {
		Bool struct {
			Filter []json.RawMessage `json:"filter"`
			Must   json.RawMessage   `json:"must"`
		} `json:"bool"`
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range q.Bool.Filter {
		got = append(got, string(f))
	}
	sort.Strings(got)
	if !slices.Equal(got, want) || string(q.Bool.Must) != wantMust {
		t.Fatalf("query %s\nfilters\n got %q\nwant %q", raw, got, want)
	}
}
