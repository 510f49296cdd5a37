package dashboards

import (
	"os"
	"sort"
	"testing"
)

// aggregatableTypes are the mapping types that terms, cardinality and
// histogram aggregations accept (when the template leaves their doc values
// on).
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
	documented := DocumentedFields(doc)
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
			d, ok := got[f]
			switch {
			case !ok:
				t.Errorf("%s: field %s (%s) is not documented", p, f, mp[f].typ)
			case d.Type != mp[f].typ || d.Aggregatable != mp[f].aggregatable():
				t.Errorf("%s: field %s documented as %s, aggregatable %v; the template says %s, aggregatable %v", p, f, d.Type, d.Aggregatable, mp[f].typ, mp[f].aggregatable())
			}
		}
		for f := range got {
			if _, ok := mp[f]; !ok {
				t.Errorf("%s: documented field %s is not in the template", p, f)
			}
		}
	}
}
