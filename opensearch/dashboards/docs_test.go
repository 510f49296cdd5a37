package dashboards

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// aggregatableTypes are the mapping types that terms, cardinality and
// histogram aggregations accept.
var aggregatableTypes = append([]string{"keyword", "boolean", "ip", "date", "date_nanos"}, numeric...)

// TestAnalystsDocListsTemplateFields: docs/analysts.md has, under a heading
// naming each index pattern, a table row for every field of its template
// with the template's type and whether it is aggregatable, and no row for
// a field the template does not have.
func TestAnalystsDocListsTemplateFields(t *testing.T) {
	doc, err := os.ReadFile("../../docs/analysts.md")
	if err != nil {
		t.Fatal(err)
	}
	mappings, err := templateMappings()
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^#+ .*\\(`([^`]+)`\\)\\s*$")
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z_]+) \\| (yes|no) \\|")
	documented := map[string]map[string][2]string{} // pattern → field → type, aggregatable
	pattern := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if g := heading.FindStringSubmatch(line); g != nil {
			pattern = g[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			pattern = ""
		}
		if g := row.FindStringSubmatch(line); g != nil && pattern != "" {
			if documented[pattern] == nil {
				documented[pattern] = map[string][2]string{}
			}
			documented[pattern][g[1]] = [2]string{g[2], g[3]}
		}
	}
	for p, mp := range mappings {
		got := documented[p]
		if got == nil {
			t.Errorf("docs/analysts.md has no field table under a heading naming (`%s`)", p)
			continue
		}
		var fields []string
		for f := range mp {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			want := "no"
			if contains(aggregatableTypes, mp[f]) {
				want = "yes"
			}
			d, ok := got[f]
			switch {
			case !ok:
				t.Errorf("%s: field %s (%s) is not documented", p, f, mp[f])
			case d[0] != mp[f] || d[1] != want:
				t.Errorf("%s: field %s documented as %s, aggregatable %s; the template says %s, aggregatable %s", p, f, d[0], d[1], mp[f], want)
			}
		}
		for f := range got {
			if _, ok := mp[f]; !ok {
				t.Errorf("%s: documented field %s is not in the template", p, f)
			}
		}
	}
}
