package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/evtrack/telemetry/opensearch/dashboards"
	"github.com/evtrack/telemetry/platform/testenv"
)

// capability is what the node's _field_caps says of a field across the
// indices of an index pattern.
type capability struct {
	Types                    []string
	Searchable, Aggregatable bool
}

// fieldCaps asks the node what Dashboards asks when it reads an index
// pattern's fields (GET <title>/_field_caps?fields=*, ignore_unavailable,
// allow_no_indices=false), for title rewritten to prefix. A field is
// aggregatable (searchable) only when it is so in every index (the node
// answers false, with the indices, when some are not).
func fieldCaps(t *testing.T, osURL, title, prefix string) map[string]capability {
	t.Helper()
	path := "/" + dashboards.PatternFor(title, prefix) + "/_field_caps?fields=*&ignore_unavailable=true&allow_no_indices=false"
	var res struct {
		Fields map[string]map[string]struct {
			Searchable   bool `json:"searchable"`
			Aggregatable bool `json:"aggregatable"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(testenv.Do(t, osURL, http.MethodGet, path, ""), &res); err != nil {
		t.Fatal(err)
	}
	out := map[string]capability{}
	for name, byType := range res.Fields {
		c := capability{Searchable: true, Aggregatable: true}
		for typ, tc := range byType {
			c.Types = append(c.Types, typ)
			c.Searchable = c.Searchable && tc.Searchable
			c.Aggregatable = c.Aggregatable && tc.Aggregatable
		}
		slices.Sort(c.Types)
		out[name] = c
	}
	return out
}

// nodeFieldProblems checks every field use of set against the node's
// capabilities (caps by index pattern id): the field exists in the indices,
// an aggregation or sort (or the time field) reads an aggregatable field,
// a query or filter a searchable one.
func nodeFieldProblems(set *dashboards.Set, caps map[string]map[string]capability) []string {
	uses, problems := set.FieldUses()
	for _, u := range uses {
		c, ok := caps[u.Pattern.ID][u.Field]
		if !ok {
			if i := strings.IndexByte(u.Field, '.'); i > 0 && slices.Contains(caps[u.Pattern.ID][u.Field[:i]].Types, "flat_object") {
				continue // a key of a flat_object field: searched by its path
			}
			problems = append(problems, fmt.Sprintf("%s: the indices of %q have no such field", u, u.Pattern.Title()))
			continue
		}
		if u.Aggregates() && !c.Aggregatable {
			problems = append(problems, fmt.Sprintf("%s: the node says %v is not aggregatable (no doc values) in %q", u, c.Types, u.Pattern.Title()))
		}
		if u.Searches() && !c.Searchable {
			problems = append(problems, fmt.Sprintf("%s: the node says %v is not searchable in %q", u, c.Types, u.Pattern.Title()))
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

// TestFieldUsesWorkOnTheNode reads, for each index pattern, the field
// capabilities the real node reports for indices made by the real
// templates (what Dashboards builds the pattern's field list from) and
// checks every field use of the saved objects against them, and the
// analysts' guide's "aggregatable" column too: the guide tells analysts
// which fields they can split, count and sort by. A saved search sorted on
// a field without doc values is refused, so the check can fail.
func TestFieldUsesWorkOnTheNode(t *testing.T) {
	osURL := testenv.OpenSearchURL(t)
	prefix := setup(t, osURL)
	set, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]map[string]capability{}
	for _, o := range set.OfType(dashboards.TypeIndexPattern) {
		caps[o.ID] = fieldCaps(t, osURL, o.Title(), prefix)
	}

	t.Run("saved objects", func(t *testing.T) {
		for _, p := range nodeFieldProblems(set, caps) {
			t.Error(p)
		}
	})

	t.Run("the check refuses a sort without doc values", func(t *testing.T) {
		events, _ := set.Get(dashboards.TypeIndexPattern, "telemetry-events")
		line, err := json.Marshal(map[string]any{"type": "search", "id": "by-user-agent", "references": []any{
			map[string]any{"id": events.ID, "name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern"},
		}, "attributes": map[string]any{"title": "By user agent", "columns": []any{"user_agent"}, "sort": []any{[]any{"user_agent", "asc"}},
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": `{"filter":[],"indexRefName":"kibanaSavedObjectMeta.searchSourceJSON.index","query":{"language":"kuery","query":""}}`}}})
		if err != nil {
			t.Fatal(err)
		}
		ip, err := json.Marshal(map[string]any{"type": events.Type, "id": events.ID, "attributes": events.Attributes, "references": []any{}})
		if err != nil {
			t.Fatal(err)
		}
		bad, err := dashboards.LoadFS(fstest.MapFS{"x.ndjson": {Data: []byte(string(ip) + "\n" + string(line) + "\n")}})
		if err != nil {
			t.Fatal(err)
		}
		problems := strings.Join(nodeFieldProblems(bad, caps), "\n")
		if !strings.Contains(problems, `sort on field "user_agent": the node says [keyword] is not aggregatable`) {
			t.Errorf("a sort on user_agent passed: %q", problems)
		}
	})

	t.Run("analysts guide", func(t *testing.T) {
		doc, err := os.ReadFile("../../docs/analysts.md")
		if err != nil {
			t.Fatal(err)
		}
		documented := dashboards.DocumentedFields(doc)
		for _, o := range set.OfType(dashboards.TypeIndexPattern) {
			var rows map[string]dashboards.DocumentedField
			for _, part := range dashboards.TitleParts(o.Title()) {
				if r, ok := documented[part]; ok {
					rows = r
				}
			}
			if rows == nil {
				t.Errorf("docs/analysts.md has no field table for index pattern %q", o.Title())
				continue
			}
			for name, d := range rows {
				c, ok := caps[o.ID][name]
				switch {
				case !ok && d.Type == "object" && !d.Aggregatable:
					// A disabled object (the dead letter's document): kept in
					// _source, no field of the index.
				case !ok:
					t.Errorf("%s: documented field %s is not in the indices", o.Title(), name)
				case d.Aggregatable != c.Aggregatable:
					t.Errorf("%s: field %s documented aggregatable %v; the node says %v (%v)", o.Title(), name, d.Aggregatable, c.Aggregatable, c.Types)
				}
			}
		}
	})
}
