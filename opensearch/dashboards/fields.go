package dashboards

import (
	"fmt"
	"sort"
)

// FieldUse is one use of an index field by a saved object: an aggregation
// of a visualization, a saved search's column or sort, a field in a query
// or filter, an index pattern's time field or field format.
type FieldUse struct {
	Object  Object // the object that uses the field
	Pattern Object // the index pattern whose indices hold it
	Use     string // an aggregation type ("terms", "cardinality", …), "sort", "time field", "field format", "column", "query" or "filter"
	Field   string
}

func (u FieldUse) String() string {
	return fmt.Sprintf("%s: %s on field %q", u.Object.Where(), u.Use, u.Field)
}

// Aggregates reports whether the use reads the field's doc values, which
// Dashboards offers only for fields the cluster reports aggregatable: an
// aggregation, a sort, or the time field (Discover sorts on it and draws
// its histogram).
func (u FieldUse) Aggregates() bool {
	switch u.Use {
	case "column", "field format", "query", "filter":
		return false
	}
	return true
}

// Searches reports whether the use searches the field's index: a query or
// a filter.
func (u FieldUse) Searches() bool { return u.Use == "query" || u.Use == "filter" }

// aggregationTypes are the visualization aggregations FieldUses reads a
// field from ("count" and "filters" name none of their own).
var aggregationTypes = map[string]bool{"terms": true, "cardinality": true, "date_histogram": true,
	"sum": true, "avg": true, "min": true, "max": true}

// FieldUses lists every field the set's index patterns, saved searches and
// visualizations use, and a problem for each object it cannot read (or
// whose aggregation it does not know).
func (s *Set) FieldUses() (uses []FieldUse, problems []string) {
	for _, o := range s.Objects {
		switch o.Type {
		case TypeIndexPattern:
			uses, problems = s.indexPatternUses(o, uses, problems)
		case TypeSearch, TypeVisualization:
			uses, problems = s.viewUses(o, uses, problems)
		}
	}
	sort.Strings(problems)
	return uses, problems
}

func (s *Set) indexPatternUses(o Object, uses []FieldUse, problems []string) ([]FieldUse, []string) {
	if tf, _ := o.Attributes["timeFieldName"].(string); tf != "" {
		uses = append(uses, FieldUse{Object: o, Pattern: o, Use: "time field", Field: tf})
	}
	var formats map[string]any
	if _, err := o.JSONAttribute("fieldFormatMap", &formats); err != nil {
		problems = append(problems, err.Error())
	}
	names := make([]string, 0, len(formats))
	for f := range formats {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		uses = append(uses, FieldUse{Object: o, Pattern: o, Use: "field format", Field: f})
	}
	return uses, problems
}

func (s *Set) viewUses(o Object, uses []FieldUse, problems []string) ([]FieldUse, []string) {
	var aggs []Agg
	if o.Type == TypeVisualization {
		vis, err := o.VisState()
		if err != nil {
			return uses, append(problems, err.Error())
		}
		if len(vis.Aggs) == 0 {
			return uses, problems // markdown and other panels without data
		}
		aggs = vis.Aggs
	}
	src, err := s.sourceOf(o)
	if err != nil {
		return uses, append(problems, err.Error())
	}
	use := func(kind, field string) {
		uses = append(uses, FieldUse{Object: o, Pattern: src.pattern, Use: kind, Field: field})
	}
	queryUses := func(q *Query) {
		if q.Text() == "" {
			return
		}
		if q.Language != "kuery" {
			problems = append(problems, fmt.Sprintf("%s: query %q is %s; the checks read DQL (kuery) only", o.Where(), q.Text(), q.Language))
			return
		}
		k, err := ParseKuery(q.Text())
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", o.Where(), err))
			return
		}
		for _, f := range k.Fields() {
			use("query", f)
		}
	}
	// The object's own query and filters (a saved search's are listed with
	// the search).
	ss, err := o.SearchSource()
	if err != nil {
		return uses, append(problems, err.Error())
	}
	queryUses(ss.Query)
	for _, f := range ss.Filter {
		dsl, _, _, err := FilterDSL(f)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", o.Where(), err))
			continue
		}
		for _, field := range dslFields(dsl) {
			use("filter", field)
		}
		if meta, _ := f["meta"].(map[string]any); meta != nil {
			if key, _ := meta["key"].(string); key != "" && key != "query" {
				use("filter", key)
			}
		}
	}
	if o.Type == TypeSearch {
		columns, _ := o.Attributes["columns"].([]any)
		for _, col := range columns {
			if name, _ := col.(string); name != "_source" {
				use("column", name)
			}
		}
		for _, s := range SortOf(o) {
			use("sort", s[0])
			if s[1] != "asc" && s[1] != "desc" {
				problems = append(problems, fmt.Sprintf("%s: sort direction %q", o.Where(), s[1]))
			}
		}
	}
	for _, a := range aggs {
		if !a.On() {
			continue
		}
		switch {
		case a.Type == "count":
		case a.Type == "filters":
			list, _ := a.Params["filters"].([]any)
			for _, item := range list {
				f, _ := item.(map[string]any)
				input, _ := f["input"].(map[string]any)
				text, _ := input["query"].(string)
				lang, _ := input["language"].(string)
				queryUses(&Query{Query: text, Language: lang})
			}
		case aggregationTypes[a.Type]:
			use(a.Type, a.Str("field"))
		default:
			problems = append(problems, fmt.Sprintf("%s: aggregation %s has type %q, which the checks do not know", o.Where(), a.ID, a.Type))
		}
	}
	return uses, problems
}

// dslFields lists the fields an OpenSearch query names.
func dslFields(q any) []string {
	var out []string
	switch v := q.(type) {
	case map[string]any:
		for k, sub := range v {
			switch k {
			case "term", "terms", "match", "match_phrase", "wildcard", "prefix", "range", "regexp", "fuzzy":
				if fields, ok := sub.(map[string]any); ok {
					for f := range fields {
						if f != "boost" {
							out = append(out, f)
						}
					}
				}
			case "exists":
				if e, ok := sub.(map[string]any); ok {
					if f, ok := e["field"].(string); ok {
						out = append(out, f)
					}
				}
			case "query_string", "simple_query_string", "multi_match":
				if e, ok := sub.(map[string]any); ok {
					fields, _ := e["fields"].([]any)
					for _, f := range fields {
						if s, ok := f.(string); ok {
							out = append(out, s)
						}
					}
				}
			default:
				out = append(out, dslFields(sub)...)
			}
		}
	case []any:
		for _, sub := range v {
			out = append(out, dslFields(sub)...)
		}
	}
	sort.Strings(out)
	return out
}
