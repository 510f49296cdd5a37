// Package dashboards embeds the analysts' OpenSearch Dashboards saved
// objects (the .ndjson files in this folder: index patterns, saved searches,
// visualizations and dashboards, in the Dashboards 2.x export format), reads
// them, rewrites their index patterns for another index prefix, and
// translates each visualization and saved search into the search request
// Dashboards sends for it, so tests can run them against real indices.
//
// The files are the source: build or change a view in Dashboards, export it
// (Stack Management → Saved objects → Export, without related objects that
// already live in another file) and put the lines here; docs/analysts.md
// describes the workflow and the tests that check the result.
package dashboards

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
)

//go:embed *.ndjson
var files embed.FS

// Saved-object types.
const (
	TypeIndexPattern  = "index-pattern"
	TypeSearch        = "search"
	TypeVisualization = "visualization"
	TypeDashboard     = "dashboard"
)

// Object is one saved object, one line of an .ndjson file.
type Object struct {
	Type             string            `json:"type"`
	ID               string            `json:"id"`
	Attributes       map[string]any    `json:"attributes"`
	References       []Reference       `json:"references"`
	MigrationVersion map[string]string `json:"migrationVersion,omitempty"`

	// File and Line locate the object (for messages).
	File string `json:"-"`
	Line int    `json:"-"`
	// Keys are the object's top-level keys as written.
	Keys []string `json:"-"`
	raw  []byte
}

// Reference is a by-name link from an object to another object.
type Reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Key is type:id, unique across the set.
func (o Object) Key() string { return o.Type + ":" + o.ID }

// Where is file:line of the object.
func (o Object) Where() string { return fmt.Sprintf("%s:%d (%s)", o.File, o.Line, o.Key()) }

// Title is the object's title attribute.
func (o Object) Title() string { s, _ := o.Attributes["title"].(string); return s }

// Ref returns the reference named name.
func (o Object) Ref(name string) (Reference, bool) {
	for _, r := range o.References {
		if r.Name == name {
			return r, true
		}
	}
	return Reference{}, false
}

// JSONAttribute decodes the attribute at path (dot-separated, e.g.
// "kibanaSavedObjectMeta.searchSourceJSON"), a string holding JSON, into v.
// It reports false when the attribute is absent.
func (o Object) JSONAttribute(path string, v any) (bool, error) {
	var cur any = o.Attributes
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false, nil
		}
		if cur, ok = m[part]; !ok {
			return false, nil
		}
	}
	s, ok := cur.(string)
	if !ok {
		return true, fmt.Errorf("%s: attribute %s is a %T, want a JSON string", o.Where(), path, cur)
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return true, fmt.Errorf("%s: attribute %s: %w", o.Where(), path, err)
	}
	if d.More() {
		return true, fmt.Errorf("%s: attribute %s: data after the JSON value", o.Where(), path)
	}
	return true, nil
}

// JSONAttributePaths are the attributes of each type that hold JSON in a
// string.
var JSONAttributePaths = map[string][]string{
	TypeIndexPattern:  {"fields", "fieldFormatMap", "sourceFilters", "typeMeta"},
	TypeSearch:        {"kibanaSavedObjectMeta.searchSourceJSON"},
	TypeVisualization: {"visState", "uiStateJSON", "kibanaSavedObjectMeta.searchSourceJSON"},
	TypeDashboard:     {"panelsJSON", "optionsJSON", "kibanaSavedObjectMeta.searchSourceJSON"},
}

// Set is the saved objects of every file, in file order.
type Set struct {
	Objects []Object
	byKey   map[string]int
}

// Load reads and parses the embedded files.
func Load() (*Set, error) { return LoadFS(files) }

// LoadFS reads every *.ndjson file at the root of fsys (in name order). An
// export's closing summary line ({"exportedCount": …}) is skipped. Every
// other line must be one saved object; a duplicate type:id is an error.
func LoadFS(fsys fs.FS) (*Set, error) {
	names, err := fs.Glob(fsys, "*.ndjson")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	s := &Set{byKey: map[string]int{}}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			o, skip, err := parseLine(line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
			}
			if skip {
				continue
			}
			o.File, o.Line = name, i+1
			if j, dup := s.byKey[o.Key()]; dup {
				return nil, fmt.Errorf("%s: duplicate of %s", o.Where(), s.Objects[j].Where())
			}
			s.byKey[o.Key()] = len(s.Objects)
			s.Objects = append(s.Objects, o)
		}
	}
	return s, nil
}

func parseLine(line []byte) (Object, bool, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return Object{}, false, err
	}
	if _, ok := top["exportedCount"]; ok {
		return Object{}, true, nil
	}
	var o Object
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&o); err != nil {
		return Object{}, false, err
	}
	if o.Type == "" || o.ID == "" || o.Attributes == nil {
		return Object{}, false, fmt.Errorf("a saved object needs type, id and attributes")
	}
	for k := range top {
		o.Keys = append(o.Keys, k)
	}
	sort.Strings(o.Keys)
	o.raw = line
	return o, false, nil
}

// Get returns the object typ:id.
func (s *Set) Get(typ, id string) (Object, bool) {
	i, ok := s.byKey[typ+":"+id]
	if !ok {
		return Object{}, false
	}
	return s.Objects[i], true
}

// OfType returns the objects of typ, in file order.
func (s *Set) OfType(typ string) []Object {
	var out []Object
	for _, o := range s.Objects {
		if o.Type == typ {
			out = append(out, o)
		}
	}
	return out
}

// Resolve returns the object o's reference name points to.
func (s *Set) Resolve(o Object, name string) (Object, error) {
	r, ok := o.Ref(name)
	if !ok {
		return Object{}, fmt.Errorf("%s: no reference named %q", o.Where(), name)
	}
	target, ok := s.Get(r.Type, r.ID)
	if !ok {
		return Object{}, fmt.Errorf("%s: reference %q points to %s:%s, which is not in the files", o.Where(), name, r.Type, r.ID)
	}
	return target, nil
}

// PatternFor rewrites an index pattern title written for the default events
// prefix into prefix's. A title is a comma-separated list (as Dashboards
// reads it); each part that names the default prefix's events, dead-letter
// or audit pattern, or its single dead-letter or audit index of earlier
// versions, is replaced by prefix's. Other parts are kept.
func PatternFor(title, prefix string) string {
	def := templates.DefaultEventsPrefix
	names := map[string]string{
		eventdoc.Pattern(def):           eventdoc.Pattern(prefix),
		eventdoc.DeadLetterPattern(def): eventdoc.DeadLetterPattern(prefix),
		eventdoc.DeadLetterPrefix(def):  eventdoc.DeadLetterPrefix(prefix),
		eventdoc.AuditPattern(def):      eventdoc.AuditPattern(prefix),
		eventdoc.AuditPrefix(def):       eventdoc.AuditPrefix(prefix),
	}
	parts := TitleParts(title)
	for i, p := range parts {
		if r, ok := names[p]; ok {
			parts[i] = r
		}
	}
	return strings.Join(parts, ",")
}

// TitleParts splits an index pattern title into the index names and
// wildcard patterns it lists.
func TitleParts(title string) []string { return strings.Split(title, ",") }

// NDJSON returns every object as one import file, index patterns first,
// their titles rewritten for prefix (see PatternFor), and how many objects
// it holds.
func (s *Set) NDJSON(prefix string) ([]byte, int, error) {
	if err := templates.ValidatePrefix(prefix); err != nil {
		return nil, 0, err
	}
	objs := append([]Object(nil), s.Objects...)
	sort.SliceStable(objs, func(i, j int) bool {
		return objs[i].Type == TypeIndexPattern && objs[j].Type != TypeIndexPattern
	})
	var b bytes.Buffer
	for _, o := range objs {
		line := o.raw
		if o.Type == TypeIndexPattern && PatternFor(o.Title(), prefix) != o.Title() {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(o.raw, &top); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", o.Where(), err)
			}
			attrs := make(map[string]any, len(o.Attributes))
			for k, v := range o.Attributes {
				attrs[k] = v
			}
			attrs["title"] = PatternFor(o.Title(), prefix)
			enc, err := json.Marshal(attrs)
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", o.Where(), err)
			}
			top["attributes"] = enc
			if line, err = json.Marshal(top); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", o.Where(), err)
			}
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), len(objs), nil
}
