package dashboards

import (
	"fmt"
	"sort"
	"strings"

	"github.com/evtrack/telemetry/opensearch/templates"
)

// mapping is an index template's properties: field → type.
type mapping map[string]string

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
		m, err := tpl.Mapping()
		if err != nil {
			return nil, err
		}
		for _, p := range m.Patterns {
			out[p] = m.Types
		}
	}
	return out, nil
}

const flatObjectKey = "flat_object key"

// typeOf returns the type of field, "flat_object key" for a key inside a
// flat_object field (searchable, not aggregatable), "" when unmapped.
func (mp mapping) typeOf(field string) string {
	if t, ok := mp[field]; ok {
		return t
	}
	if i := strings.IndexByte(field, '.'); i > 0 && mp[field[:i]] == "flat_object" {
		return flatObjectKey
	}
	return ""
}

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

// checker collects problems with the fields the saved objects use.
type checker struct {
	set      *Set
	mappings map[string]mapping
	problems []string
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// use checks that field exists in mp and, for a use with type rules, has a
// type that supports it.
func (c *checker) use(o Object, mp mapping, use, field string) {
	t := mp.typeOf(field)
	if t == "" {
		c.addf("%s: %s uses field %q, which is not in the index template", o.Where(), use, field)
		return
	}
	if allowed, ok := fieldUses[use]; ok && !contains(allowed, t) {
		c.addf("%s: %s on field %q of type %s (want one of %v)", o.Where(), use, field, t, allowed)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkFields returns every field problem of the set's objects against
// mappings (index pattern title → template mapping).
func checkFields(set *Set, mappings map[string]mapping) []string {
	c := &checker{set: set, mappings: mappings}
	for _, o := range set.Objects {
		switch o.Type {
		case TypeIndexPattern:
			c.indexPattern(o)
		case TypeSearch:
			c.search(o)
		case TypeVisualization:
			c.visualization(o)
		}
	}
	sort.Strings(c.problems)
	return c.problems
}

func (c *checker) mappingOf(o Object, pattern Object) (mapping, bool) {
	mp, ok := c.mappings[pattern.Title()]
	if !ok {
		c.addf("%s: index pattern %q matches no index template", o.Where(), pattern.Title())
	}
	return mp, ok
}

func (c *checker) indexPattern(o Object) {
	mp, ok := c.mappingOf(o, o)
	if !ok {
		return
	}
	if tf, _ := o.Attributes["timeFieldName"].(string); tf != "" {
		c.use(o, mp, "time field", tf)
	}
	var formats map[string]any
	if _, err := o.JSONAttribute("fieldFormatMap", &formats); err != nil {
		c.addf("%v", err)
	}
	for f := range formats {
		c.use(o, mp, "field format", f)
	}
}

func (c *checker) source(o Object) (source, mapping, bool) {
	src, err := c.set.sourceOf(o)
	if err != nil {
		c.addf("%v", err)
		return src, nil, false
	}
	mp, ok := c.mappingOf(o, src.pattern)
	if !ok {
		return src, nil, false
	}
	// The object's own query and filters (a saved search's are checked
	// with the search).
	ss, err := o.SearchSource()
	if err != nil {
		c.addf("%v", err)
		return src, mp, true
	}
	c.query(o, mp, ss.Query)
	for _, f := range ss.Filter {
		dsl, _, _, err := FilterDSL(f)
		if err != nil {
			c.addf("%s: %v", o.Where(), err)
			continue
		}
		for _, field := range dslFields(dsl) {
			c.use(o, mp, "filter", field)
		}
		if meta, _ := f["meta"].(map[string]any); meta != nil {
			if key, _ := meta["key"].(string); key != "" && key != "query" {
				c.use(o, mp, "filter", key)
			}
		}
	}
	return src, mp, true
}

func (c *checker) query(o Object, mp mapping, q *Query) {
	if q.Text() == "" {
		return
	}
	if q.Language != "kuery" {
		c.addf("%s: query %q is %s; the checks read DQL (kuery) only", o.Where(), q.Text(), q.Language)
		return
	}
	k, err := ParseKuery(q.Text())
	if err != nil {
		c.addf("%s: %v", o.Where(), err)
		return
	}
	for _, f := range k.Fields() {
		c.use(o, mp, "query", f)
	}
}

func (c *checker) search(o Object) {
	_, mp, ok := c.source(o)
	if !ok {
		return
	}
	columns, _ := o.Attributes["columns"].([]any)
	for _, col := range columns {
		if s, _ := col.(string); s != "_source" {
			c.use(o, mp, "column", s)
		}
	}
	for _, s := range SortOf(o) {
		c.use(o, mp, "sort", s[0])
		if s[1] != "asc" && s[1] != "desc" {
			c.addf("%s: sort direction %q", o.Where(), s[1])
		}
	}
}

func (c *checker) visualization(o Object) {
	vis, err := o.VisState()
	if err != nil {
		c.addf("%v", err)
		return
	}
	if len(vis.Aggs) == 0 {
		return // markdown and other panels without data
	}
	_, mp, ok := c.source(o)
	if !ok {
		return
	}
	for _, a := range vis.Aggs {
		if !a.On() {
			continue
		}
		switch a.Type {
		case "count":
		case "filters":
			list, _ := a.Params["filters"].([]any)
			for _, item := range list {
				f, _ := item.(map[string]any)
				input, _ := f["input"].(map[string]any)
				text, _ := input["query"].(string)
				lang, _ := input["language"].(string)
				c.query(o, mp, &Query{Query: text, Language: lang})
			}
		default:
			if _, known := fieldUses[a.Type]; !known {
				c.addf("%s: aggregation %s has type %q, which the checks do not know", o.Where(), a.ID, a.Type)
				continue
			}
			c.use(o, mp, a.Type, a.Str("field"))
		}
	}
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
