// Package templates embeds the OpenSearch index templates in this folder,
// so every service and tool applies the same files. Each file is written for the default index prefix; for another
// prefix (a test's, or a second environment on one cluster) the patterns are
// rewritten.
package templates

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// DefaultEventsPrefix is the prefix of the daily event indices
// (telemetry-events-YYYY.MM.DD) that the files are written for.
const DefaultEventsPrefix = "telemetry-events"

var (
	//go:embed events-template.json
	eventsTemplate []byte
	//go:embed deadletter-template.json
	deadLetterTemplate []byte
	//go:embed audit-template.json
	auditTemplate []byte
)

var validPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,100}$`)

// ValidatePrefix checks that prefix can start an OpenSearch index name, and
// that its events pattern (prefix-*) cannot match dead-letter indices (of
// any prefix), which start with "deadletter-".
func ValidatePrefix(prefix string) error {
	if !validPrefix.MatchString(prefix) {
		return fmt.Errorf("index prefix %q: want lower-case letters, digits, '-' or '_', starting with a letter or digit", prefix)
	}
	if strings.HasPrefix(prefix, "deadletter") {
		return fmt.Errorf("index prefix %q: names starting with \"deadletter\" are the dead-letter indices'", prefix)
	}
	return nil
}

// Template is a named request body.
type Template struct {
	Name string
	Body []byte
}

// Mapping is what a template says of the indices it shapes: the patterns
// it applies to, whether a document's unmapped fields are refused
// ("strict"), and the type of each top-level field.
type Mapping struct {
	Patterns []string
	Dynamic  string
	Types    map[string]string // field → type
}

// Mapping reads the index patterns and the mappings of t's body, for the
// checks that hold documents, filters and dashboards to the templates.
func (t Template) Mapping() (Mapping, error) {
	var doc struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Dynamic    string `json:"dynamic"`
				Properties map[string]struct {
					Type string `json:"type"`
				} `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(t.Body, &doc); err != nil {
		return Mapping{}, fmt.Errorf("template %s: %w", t.Name, err)
	}
	m := Mapping{Patterns: doc.IndexPatterns, Dynamic: doc.Template.Mappings.Dynamic, Types: map[string]string{}}
	for field, p := range doc.Template.Mappings.Properties {
		m.Types[field] = p.Type
	}
	return m, nil
}

// EventsVersion is the events template's _meta.version, raised whenever the
// documents it shapes change: a tool keeping a data set between runs (the
// benchmark) rebuilds one written under another version.
func EventsVersion() (int, error) {
	var doc struct {
		Meta struct {
			Version int `json:"version"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(eventsTemplate, &doc); err != nil || doc.Meta.Version <= 0 {
		return 0, fmt.Errorf("events template: no _meta.version (%v)", err)
	}
	return doc.Meta.Version, nil
}

// WithReplicas returns t with its indices' number_of_replicas set to n
// (OPENSEARCH_INDEX_REPLICAS): 0 on one node, 1 or more on a cluster, so an
// index outlives the loss of a node. A template shapes only indices created
// after it; existing ones keep their count until changed through
// PUT /<index>/_settings.
func (t Template) WithReplicas(n int) (Template, error) {
	if n < 0 {
		return Template{}, fmt.Errorf("template %s: number of replicas %d: must not be negative", t.Name, n)
	}
	var doc map[string]any
	if err := json.Unmarshal(t.Body, &doc); err != nil {
		return Template{}, fmt.Errorf("template %s: %w", t.Name, err)
	}
	tmpl, _ := doc["template"].(map[string]any)
	settings, _ := tmpl["settings"].(map[string]any)
	index, _ := settings["index"].(map[string]any)
	if index == nil {
		return Template{}, fmt.Errorf("template %s: no template.settings.index to set number_of_replicas in", t.Name)
	}
	index["number_of_replicas"] = n
	body, err := json.Marshal(doc)
	if err != nil {
		return Template{}, fmt.Errorf("encode template %s: %w", t.Name, err)
	}
	return Template{Name: t.Name, Body: body}, nil
}

// Build is build's template for prefix (build is Events, DeadLetter or
// Audit) with its indices' number_of_replicas set to replicas
// (WithReplicas).
func Build(build func(prefix string) (Template, error), prefix string, replicas int) (Template, error) {
	t, err := build(prefix)
	if err != nil {
		return Template{}, err
	}
	return t.WithReplicas(replicas)
}

// Events returns the composable index template for prefix-YYYY.MM.DD.
func Events(prefix string) (Template, error) {
	return withPatterns(eventsTemplate, prefix, []string{eventdoc.Pattern(prefix)})
}

// DeadLetter returns the index template of prefix's daily dead-letter
// indices.
func DeadLetter(prefix string) (Template, error) {
	t, err := withPatterns(deadLetterTemplate, prefix, []string{eventdoc.DeadLetterPattern(prefix)})
	t.Name = eventdoc.DeadLetterPrefix(prefix)
	return t, err
}

// Audit returns the index template of prefix's daily audit indices
// (audit-prefix-YYYY.MM.DD). The template is named audit-prefix.
func Audit(prefix string) (Template, error) {
	t, err := withPatterns(auditTemplate, prefix, []string{eventdoc.AuditPattern(prefix)})
	t.Name = "audit-" + prefix
	return t, err
}

func withPatterns(file []byte, prefix string, patterns []string) (Template, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return Template{}, err
	}
	if prefix == DefaultEventsPrefix {
		return Template{Name: prefix, Body: file}, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(file, &doc); err != nil {
		return Template{}, fmt.Errorf("parse embedded template: %w", err)
	}
	doc["index_patterns"] = patterns
	body, err := json.Marshal(doc)
	if err != nil {
		return Template{}, fmt.Errorf("encode template for %s: %w", prefix, err)
	}
	return Template{Name: prefix, Body: body}, nil
}
