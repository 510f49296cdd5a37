// Package templates embeds the OpenSearch index templates and the ISM
// retention policy in this folder, so every service and tool applies the
// same files. Each file is written for the default index prefix; for another
// prefix (a test's, or a second environment on one cluster) the patterns are
// rewritten.
package templates

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

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
	//go:embed events-ism-policy.json
	ismPolicy []byte
	//go:embed audit-template.json
	auditTemplate []byte
)

var validPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,100}$`)

// ValidatePrefix checks that prefix can start an OpenSearch index name.
func ValidatePrefix(prefix string) error {
	if !validPrefix.MatchString(prefix) {
		return fmt.Errorf("index prefix %q: want lower-case letters, digits, '-' or '_', starting with a letter or digit", prefix)
	}
	return nil
}

// Template is a named request body.
type Template struct {
	Name string
	Body []byte
}

// Events returns the composable index template for prefix-YYYY.MM.DD.
func Events(prefix string) (Template, error) {
	return withPatterns(eventsTemplate, prefix, []string{eventdoc.Pattern(prefix)})
}

// DeadLetter returns the index template of prefix's dead-letter index.
func DeadLetter(prefix string) (Template, error) {
	t, err := withPatterns(deadLetterTemplate, prefix, []string{eventdoc.DeadLetterIndex(prefix)})
	t.Name = eventdoc.DeadLetterIndex(prefix)
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

// RetentionPolicy returns the ISM policy deleting prefix's daily indices once
// they are older than retention (whole days, at least one).
func RetentionPolicy(prefix string, retention time.Duration) (Template, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return Template{}, err
	}
	var doc struct {
		Policy map[string]any `json:"policy"`
	}
	if err := json.Unmarshal(ismPolicy, &doc); err != nil {
		return Template{}, fmt.Errorf("parse embedded ISM policy: %w", err)
	}
	days := max(1, int(retention.Hours()/24))
	states, _ := doc.Policy["states"].([]any)
	for _, s := range states {
		st, _ := s.(map[string]any)
		trs, _ := st["transitions"].([]any)
		for _, tr := range trs {
			if c, ok := tr.(map[string]any)["conditions"].(map[string]any); ok {
				c["min_index_age"] = fmt.Sprintf("%dd", days)
			}
		}
	}
	doc.Policy["ism_template"] = []any{map[string]any{"index_patterns": []string{eventdoc.Pattern(prefix)}, "priority": 100}}
	body, err := json.Marshal(doc)
	if err != nil {
		return Template{}, fmt.Errorf("encode ISM policy: %w", err)
	}
	return Template{Name: prefix + "-retention", Body: body}, nil
}
