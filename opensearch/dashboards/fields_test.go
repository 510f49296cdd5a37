package dashboards

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/evtrack/telemetry/opensearch/templates"
)

// field is what an index template says of one of its fields.
type field struct {
	typ       string
	docValues bool // false when the template turns them off ("doc_values": false)
	indexed   bool // false when the template turns the index off ("index": false)
}

// mapping is an index template's properties: field name → field.
type mapping map[string]field

// templateMappings reads the index templates (through the package that
// embeds them, so a renamed or retyped template field changes what the
// checks see) and returns their mappings by index pattern.
func templateMappings() (map[string]mapping, error) {
	out := map[string]mapping{}
	for _, build := range []func(string) (templates.Template, error){templates.Events, templates.DeadLetter, templates.Audit} {
		tpl, err := build(templates.DefaultEventsPrefix)
		if err != nil {
			return nil, err
		}
		var doc struct {
			IndexPatterns []string `json:"index_patterns"`
			Template      struct {
				Mappings struct {
					Properties map[string]struct {
						Type      string `json:"type"`
						DocValues *bool  `json:"doc_values"`
						Index     *bool  `json:"index"`
					} `json:"properties"`
				} `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(tpl.Body, &doc); err != nil {
			return nil, fmt.Errorf("template %s: %w", tpl.Name, err)
		}
		mp := mapping{}
		for name, p := range doc.Template.Mappings.Properties {
			mp[name] = field{typ: p.Type, docValues: p.DocValues == nil || *p.DocValues, indexed: p.Index == nil || *p.Index}
		}
		for _, p := range doc.IndexPatterns {
			out[p] = mp
		}
	}
	return out, nil
}

const flatObjectKey = "flat_object key"

// typeOf returns field name of mp, with the type "flat_object key" for a
// key inside a flat_object field (searchable, not aggregatable), and false
// when it is unmapped.
func (mp mapping) typeOf(name string) (field, bool) {
	if f, ok := mp[name]; ok {
		return f, true
	}
	if i := strings.IndexByte(name, '.'); i > 0 && mp[name[:i]].typ == "flat_object" {
		return field{typ: flatObjectKey, indexed: true}, true
	}
	return field{}, false
}

// aggregatable reports whether terms, cardinality and histogram
// aggregations and sorts can read f: a type with doc values, not turned off.
func (f field) aggregatable() bool { return contains(aggregatableTypes, f.typ) && f.docValues }

var numeric = []string{"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}

// fieldUses: the types each use of a field accepts.
var fieldUses = map[string][]string{
	"terms":          append([]string{"keyword", "boolean", "ip"}, numeric...),
	"cardinality":    append([]string{"keyword", "boolean", "ip"}, numeric...),
	"date_histogram": {"date", "date_nanos"},
	"sum":            numeric,
	"avg":            numeric,
	"min":            append([]string{"date", "date_nanos"}, numeric...),
	"max":            append([]string{"date", "date_nanos"}, numeric...),
	"sort":           append([]string{"keyword", "boolean", "date", "date_nanos", "ip"}, numeric...),
	"time field":     {"date", "date_nanos"},
}

// checkFields returns every field problem of the set's objects against
// mappings (index pattern title → template mapping): a field the template
// does not have, a type that does not support the use, an aggregation or
// sort on a field without doc values, a query on a field without an index.
func checkFields(set *Set, mappings map[string]mapping) []string {
	uses, problems := set.FieldUses()
	for _, u := range uses {
		mp, ok := mappingOfTitle(mappings, u.Pattern.Title())
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: index pattern %q matches no index template", u.Object.Where(), u.Pattern.Title()))
			continue
		}
		f, ok := mp.typeOf(u.Field)
		switch allowed, typed := fieldUses[u.Use]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: %s uses field %q, which is not in the index template", u.Object.Where(), u.Use, u.Field))
		case typed && !contains(allowed, f.typ):
			problems = append(problems, fmt.Sprintf("%s: %s on field %q of type %s (want one of %v)", u.Object.Where(), u.Use, u.Field, f.typ, allowed))
		case u.Aggregates() && !f.docValues:
			problems = append(problems, fmt.Sprintf("%s: %s on field %q, whose doc values the template turns off", u.Object.Where(), u.Use, u.Field))
		case u.Searches() && !f.indexed:
			problems = append(problems, fmt.Sprintf("%s: %s on field %q, whose index the template turns off", u.Object.Where(), u.Use, u.Field))
		}
	}
	sort.Strings(problems)
	problems = slices.Compact(problems)
	return problems
}

// mappingOfTitle returns the template mapping of the indices an index
// pattern title lists: each part must be one template's pattern, or the
// single index of earlier versions that pattern replaced (the pattern
// without its "-*"), and all parts the same template's.
func mappingOfTitle(mappings map[string]mapping, title string) (mapping, bool) {
	found := ""
	for _, part := range TitleParts(title) {
		p := part
		if _, ok := mappings[p]; !ok {
			if p = part + "-*"; mappings[p] == nil {
				return nil, false
			}
		}
		if found != "" && found != p {
			return nil, false
		}
		found = p
	}
	return mappings[found], found != ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
