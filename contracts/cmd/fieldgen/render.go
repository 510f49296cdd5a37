package main

import (
	"bytes"
	"embed"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// output is one derived file.
type output struct {
	path string // from the repository root
	body []byte
}

// Where each derived file lives, from the repository root.
const (
	sourcePath   = "opensearch/eventdoc/source_gen.go"
	templatePath = "opensearch/templates/events-template.json"
	ingestPath   = "services/ingest/internal/track/event_gen.go"
	documentPath = "services/enrich/internal/document/event_gen.go"
	storedPath   = "services/query/internal/opensearch/stored_gen.go"
	decodePath   = "services/query/internal/opensearch/decode_gen.go"
	jsonPath     = "services/query/internal/http/stored_json_gen.go"
	readmePath   = "services/ingest/README.md"
	swiftPath    = "clients/swift/Sources/Evtrack/EventFields_gen.swift"
)

// The ingest README's field table sits between these lines.
const (
	readmeBegin = "<!-- event fields: generated from contracts/proto/telemetry/v1/event.proto by make generate -->\n"
	readmeEnd   = "<!-- end of generated event fields -->\n"
)

func render(m *model, root string) ([]output, error) {
	funcs := template.FuncMap{
		"mapping":        mapping,
		"inputRule":      inputRule,
		"pad":            func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len(s))) },
		"last":           func(i, n int) bool { return i == n-1 },
		"quote":          func(s string) string { return fmt.Sprintf("%q", s) },
		"goType":         goType,
		"encode":         encode,
		"storedSet":      storedSet,
		"decode":         decode,
		"writeJSON":      writeJSON,
		"storedAfter":    storedAfter,
		"groups":         m.groups,
		"stringCount":    m.stringCount,
		"timestampCount": m.timestampCount,
		"docWidth": func() int {
			w := 0
			for _, d := range m.Docs {
				w = max(w, len(d.Name)+3)
			}
			return w
		},
	}
	tpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	var outs []output
	for _, g := range []struct {
		path, tmpl string
		gofmt      bool
	}{
		{sourcePath, "source.go.tmpl", true},
		{templatePath, "events-template.json.tmpl", false},
		{ingestPath, "ingest.go.tmpl", true},
		{documentPath, "document.go.tmpl", true},
		{storedPath, "stored.go.tmpl", true},
		{decodePath, "decode.go.tmpl", true},
		{jsonPath, "stored_json.go.tmpl", true},
		{swiftPath, "swift.swift.tmpl", false},
	} {
		var buf bytes.Buffer
		if err := tpl.ExecuteTemplate(&buf, g.tmpl, m); err != nil {
			return nil, fmt.Errorf("%s: %w", g.path, err)
		}
		body := buf.Bytes()
		if g.gofmt {
			if body, err = format.Source(body); err != nil {
				return nil, fmt.Errorf("%s: gofmt: %w\n%s", g.path, err, buf.Bytes())
			}
		}
		outs = append(outs, output{g.path, body})
	}
	// The README: only the table between the markers is derived.
	var table bytes.Buffer
	if err := tpl.ExecuteTemplate(&table, "readme.md.tmpl", m); err != nil {
		return nil, err
	}
	readme, err := os.ReadFile(filepath.Join(root, readmePath))
	if err != nil {
		return nil, err
	}
	i, j := bytes.Index(readme, []byte(readmeBegin)), bytes.Index(readme, []byte(readmeEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s: no generated field table markers", readmePath)
	}
	var body []byte
	body = append(body, readme[:i+len(readmeBegin)]...)
	body = append(body, table.Bytes()...)
	body = append(body, readme[j:]...)
	return append(outs, output{readmePath, body}), nil
}

// mapping is a document field's OpenSearch mapping.
func mapping(d docField) string {
	switch d.Type {
	case telemetryv1.DocType_DOC_TYPE_KEYWORD:
		attrs := `"type": "keyword"`
		if d.Ignore > 0 {
			attrs += fmt.Sprintf(`, "ignore_above": %d`, d.Ignore)
		}
		if d.SortOnly {
			attrs += `, "index": false`
		}
		if d.SearchOnly {
			attrs += `, "doc_values": false`
		}
		return "{ " + attrs + " }"
	case telemetryv1.DocType_DOC_TYPE_TEXT:
		return `{ "type": "text", "norms": false }`
	case telemetryv1.DocType_DOC_TYPE_DATE:
		return `{ "type": "date", "format": "strict_date_optional_time_nanos||epoch_millis" }`
	case telemetryv1.DocType_DOC_TYPE_LONG:
		return `{ "type": "long" }`
	case telemetryv1.DocType_DOC_TYPE_BOOLEAN:
		return `{ "type": "boolean" }`
	case telemetryv1.DocType_DOC_TYPE_FLAT_OBJECT:
		return `{ "type": "flat_object" }`
	case telemetryv1.DocType_DOC_TYPE_IP:
		return `{ "type": "ip" }`
	}
	return `{}`
}

// inputRule is an Event field's rule in words, for the README.
func inputRule(m *model, in inputField) string {
	var parts []string
	r := in.Rule
	switch {
	case r.Required:
		parts = append(parts, "required")
	case r.OneOfGroup != "":
		var names []string
		for _, o := range m.Inputs {
			if o.Rule.OneOfGroup == r.OneOfGroup {
				names = append(names, "`"+o.Name+"`")
			}
		}
		parts = append(parts, "at least one of "+strings.Join(names, " / "))
	default:
		parts = append(parts, "optional")
	}
	if r.MaxChars > 0 {
		if r.Required {
			parts = append(parts, fmt.Sprintf("1–%d characters", r.MaxChars))
		} else {
			parts = append(parts, fmt.Sprintf("≤ %d characters", r.MaxChars))
		}
	}
	if r.Identifier {
		parts = append(parts, "no control characters")
	}
	if r.Summary != "" {
		parts = append(parts, r.Summary)
	}
	return strings.Join(parts, "; ")
}
