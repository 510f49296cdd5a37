package dashboards

import (
	"regexp"
	"strings"
)

// DocumentedField is one row of a field table in docs/analysts.md.
type DocumentedField struct {
	Type         string
	Aggregatable bool
}

var (
	docHeading = regexp.MustCompile("^#+ .*\\(`([^`]+)`\\)\\s*$")
	docRow     = regexp.MustCompile("^\\| `([a-z_]+)` \\| ([a-z_]+) \\| (yes|no) \\|")
)

// DocumentedFields reads the field tables of the analysts' guide
// (docs/analysts.md): under a heading that ends with an index pattern in
// backquotes, e.g. "### Event fields (`telemetry-events-*`)", rows of
// "| `field` | type | yes/no (aggregatable) | meaning |". It returns them
// by index pattern and field.
func DocumentedFields(markdown []byte) map[string]map[string]DocumentedField {
	out := map[string]map[string]DocumentedField{}
	pattern := ""
	for _, line := range strings.Split(string(markdown), "\n") {
		if g := docHeading.FindStringSubmatch(line); g != nil {
			pattern = g[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			pattern = ""
		}
		if g := docRow.FindStringSubmatch(line); g != nil && pattern != "" {
			if out[pattern] == nil {
				out[pattern] = map[string]DocumentedField{}
			}
			out[pattern][g[1]] = DocumentedField{Type: g[2], Aggregatable: g[3] == "yes"}
		}
	}
	return out
}
