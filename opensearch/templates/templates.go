// Package templates embeds the OpenSearch index templates in opensearch/ so
// every service and tool applies the same files.
package templates

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
)

// DefaultEventsPrefix is the prefix of the daily event indices
// (telemetry-events-YYYY.MM.DD) that events-template.json matches.
const DefaultEventsPrefix = "telemetry-events"

//go:embed events-template.json
var eventsTemplate []byte

var validPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,100}$`)

// ValidatePrefix checks that prefix can start an OpenSearch index name.
func ValidatePrefix(prefix string) error {
	if !validPrefix.MatchString(prefix) {
		return fmt.Errorf("index prefix %q: want lower-case letters, digits, '-' or '_', starting with a letter or digit", prefix)
	}
	return nil
}

// Events returns the composable index template for event indices named
// prefix-YYYY.MM.DD, and the name to store it under. The file's own pattern is
// for DefaultEventsPrefix; another prefix (a test's, or a second environment on
// one cluster) gets its own copy with the pattern rewritten.
func Events(prefix string) (name string, body []byte, err error) {
	if err := ValidatePrefix(prefix); err != nil {
		return "", nil, err
	}
	if prefix == DefaultEventsPrefix {
		return prefix, eventsTemplate, nil
	}
	var doc map[string]any
	if err := json.Unmarshal(eventsTemplate, &doc); err != nil {
		return "", nil, fmt.Errorf("parse embedded events template: %w", err)
	}
	doc["index_patterns"] = []string{prefix + "-*"}
	body, err = json.Marshal(doc)
	if err != nil {
		return "", nil, fmt.Errorf("encode events template for %s: %w", prefix, err)
	}
	return prefix, body, nil
}
