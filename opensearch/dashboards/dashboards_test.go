package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
)

func load(t *testing.T) *Set {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// latestMigration is the newest migrationVersion OpenSearch Dashboards 2.x
// knows for each type (a newer one is refused on import, and Kibana 8's
// versions are all newer).
var latestMigration = map[string]string{
	TypeIndexPattern:  "7.6.0",
	TypeSearch:        "7.9.3",
	TypeVisualization: "7.10.0",
	TypeDashboard:     "7.9.3",
}

// topLevelKeys an OpenSearch Dashboards 2.x export writes; Kibana 8 adds
// others (coreMigrationVersion, typeMigrationVersion, managed, …).
var topLevelKeys = map[string]bool{"type": true, "id": true, "attributes": true, "references": true,
	"migrationVersion": true, "updated_at": true, "version": true, "namespaces": true}

var idRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func versionLE(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return true
}

// TestObjectsParseInDashboards2Format: every line of every file is one
// saved object of a type Dashboards 2.x imports, with a stable id without
// underscores, no Kibana-8-only key, a migrationVersion 2.x accepts, and
// every attribute that holds JSON in a string (visState, panelsJSON,
// searchSourceJSON, …) parses.
func TestObjectsParseInDashboards2Format(t *testing.T) {
	s := load(t)
	if len(s.Objects) == 0 {
		t.Fatal("no saved objects")
	}
	for _, o := range s.Objects {
		latest, known := latestMigration[o.Type]
		if !known {
			t.Errorf("%s: type %q is none of %v", o.Where(), o.Type, latestMigration)
			continue
		}
		if !idRE.MatchString(o.ID) {
			t.Errorf("%s: id %q: want lower-case words joined by '-' (no underscores)", o.Where(), o.ID)
		}
		for _, k := range o.Keys {
			if !topLevelKeys[k] {
				t.Errorf("%s: key %q is not in the Dashboards 2.x format", o.Where(), k)
			}
		}
		if v := o.MigrationVersion[o.Type]; v == "" || !versionLE(v, latest) {
			t.Errorf("%s: migrationVersion %v: want %s ≤ %s", o.Where(), o.MigrationVersion, o.Type, latest)
		}
		if o.Title() == "" {
			t.Errorf("%s: no title", o.Where())
		}
		for _, path := range JSONAttributePaths[o.Type] {
			var v any
			if _, err := o.JSONAttribute(path, &v); err != nil {
				t.Error(err)
			}
		}
		for k, v := range o.Attributes {
			if str, ok := v.(string); ok && strings.HasSuffix(k, "JSON") && !json.Valid([]byte(str)) {
				t.Errorf("%s: attribute %s does not parse", o.Where(), k)
			}
		}
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	good := `{"type":"index-pattern","id":"a","attributes":{"title":"x-*"},"references":[]}`
	for name, content := range map[string]string{
		"not JSON":       "{\"type\":",
		"duplicate":      good + "\n" + good,
		"no attributes":  `{"type":"search","id":"a"}`,
		"trailing value": good + " {}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadFS(fstest.MapFS{"x.ndjson": {Data: []byte(content)}}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	s, err := LoadFS(fstest.MapFS{"x.ndjson": {Data: []byte(good + "\n" + `{"exportedCount":1,"missingRefCount":0,"missingReferences":[]}` + "\n")}})
	if err != nil || len(s.Objects) != 1 {
		t.Fatalf("an export's summary line: %v, %d objects", err, len(s.Objects))
	}
}

// refNames lists the reference names an object's attributes use.
func refNames(t *testing.T, o Object) []string {
	t.Helper()
	var names []string
	ss, err := o.SearchSource()
	if err != nil {
		t.Fatal(err)
	}
	if ss.IndexRefName != "" {
		names = append(names, ss.IndexRefName)
	}
	for _, f := range ss.Filter {
		meta, _ := f["meta"].(map[string]any)
		if n, _ := meta["indexRefName"].(string); n != "" {
			names = append(names, n)
		}
	}
	if n, _ := o.Attributes["savedSearchRefName"].(string); n != "" {
		names = append(names, n)
	}
	if o.Type == TypeDashboard {
		panels, err := o.Panels()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range panels {
			names = append(names, p.PanelRefName)
		}
	}
	return names
}

// TestReferencesResolve: every reference points to an object in the files
// of the type it names; every reference name an attribute uses is among
// the object's references, and every reference is used.
func TestReferencesResolve(t *testing.T) {
	s := load(t)
	for _, o := range s.Objects {
		declared := map[string]bool{}
		for _, r := range o.References {
			if declared[r.Name] {
				t.Errorf("%s: reference name %q twice", o.Where(), r.Name)
			}
			declared[r.Name] = true
			if _, ok := s.Get(r.Type, r.ID); !ok {
				t.Errorf("%s: reference %q → %s:%s is not in the files", o.Where(), r.Name, r.Type, r.ID)
			}
		}
		used := map[string]bool{}
		for _, n := range refNames(t, o) {
			used[n] = true
			if n == "" || !declared[n] {
				t.Errorf("%s: uses reference %q, which it does not declare", o.Where(), n)
			}
		}
		for n := range declared {
			if !used[n] {
				t.Errorf("%s: reference %q is never used", o.Where(), n)
			}
		}
		switch o.Type {
		case TypeSearch:
			if ss, _ := o.SearchSource(); ss.IndexRefName == "" {
				t.Errorf("%s: a saved search needs an index pattern", o.Where())
			}
		case TypeVisualization:
			if vis, err := o.VisState(); err == nil && len(vis.Aggs) > 0 {
				if _, err := s.sourceOf(o); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// TestDashboardPanelsFitTheGrid: every panel lies inside the 48-column
// grid, no two panels overlap, panel indices are unique and match their
// grid item, and each panel carries a version (Dashboards migrates panels
// without one as pre-6.1 panels and fails).
func TestDashboardPanelsFitTheGrid(t *testing.T) {
	s := load(t)
	dashboards := s.OfType(TypeDashboard)
	if len(dashboards) < 3 {
		t.Fatalf("%d dashboards, want at least product overview, release health and pipeline health", len(dashboards))
	}
	for _, d := range dashboards {
		panels, err := d.Panels()
		if err != nil {
			t.Fatal(err)
		}
		if len(panels) == 0 {
			t.Errorf("%s: no panels", d.Where())
		}
		seen := map[string]bool{}
		for i, p := range panels {
			g := p.GridData
			if g.X < 0 || g.Y < 0 || g.W < 1 || g.H < 1 || g.X+g.W > GridColumns {
				t.Errorf("%s: panel %s at x=%d w=%d y=%d h=%d is outside the %d-column grid", d.Where(), p.PanelIndex, g.X, g.W, g.Y, g.H, GridColumns)
			}
			if p.PanelIndex == "" || seen[p.PanelIndex] || g.I != p.PanelIndex {
				t.Errorf("%s: panel index %q (grid i %q) missing, repeated or not the grid item's", d.Where(), p.PanelIndex, g.I)
			}
			seen[p.PanelIndex] = true
			if p.Version == "" {
				t.Errorf("%s: panel %s has no version", d.Where(), p.PanelIndex)
			}
			for _, q := range panels[:i] {
				h := q.GridData
				if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
					t.Errorf("%s: panels %s and %s overlap", d.Where(), q.PanelIndex, p.PanelIndex)
				}
			}
		}
	}
}

func TestGridCheckCatchesOverlap(t *testing.T) {
	overlap := func(a, b GridData) bool {
		return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
	}
	for _, tt := range []struct {
		a, b GridData
		want bool
	}{
		{GridData{X: 0, Y: 0, W: 24, H: 10}, GridData{X: 24, Y: 0, W: 24, H: 10}, false},
		{GridData{X: 0, Y: 0, W: 24, H: 10}, GridData{X: 0, Y: 10, W: 24, H: 10}, false},
		{GridData{X: 0, Y: 0, W: 25, H: 10}, GridData{X: 24, Y: 0, W: 24, H: 10}, true},
		{GridData{X: 10, Y: 5, W: 5, H: 5}, GridData{X: 0, Y: 0, W: 48, H: 6}, true},
	} {
		if got := overlap(tt.a, tt.b); got != tt.want {
			t.Errorf("%+v %+v: overlap %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// schemas each visualization type draws its aggregations with.
var visSchemas = map[string][]string{
	"line":      {"metric", "segment", "group", "split", "radius"},
	"histogram": {"metric", "segment", "group", "split"},
	"area":      {"metric", "segment", "group", "split"},
	"table":     {"metric", "bucket", "split"},
	"metric":    {"metric", "group"},
	"markdown":  {},
}

// TestVisualizationsAreWellFormed: a known type whose aggregations use its
// schemas with unique ids; each chart series and axis names a metric and
// an axis that exist; every visualization is on a dashboard; and each one
// with data translates to a search request (the live test runs them).
func TestVisualizationsAreWellFormed(t *testing.T) {
	s := load(t)
	onDashboard := map[string]bool{}
	for _, d := range s.OfType(TypeDashboard) {
		for _, r := range d.References {
			onDashboard[r.Type+":"+r.ID] = true
		}
	}
	for _, o := range s.OfType(TypeVisualization) {
		vis, err := o.VisState()
		if err != nil {
			t.Fatal(err)
		}
		if !onDashboard[o.Key()] {
			t.Errorf("%s is on no dashboard", o.Where())
		}
		schemas, ok := visSchemas[vis.Type]
		if !ok {
			t.Errorf("%s: visualization type %q is not checked here (add it to visSchemas and the translation)", o.Where(), vis.Type)
			continue
		}
		if vis.Title != o.Title() {
			t.Errorf("%s: visState title %q differs from the title %q", o.Where(), vis.Title, o.Title())
		}
		ids := map[string]bool{}
		metrics := map[string]bool{}
		for _, a := range vis.Aggs {
			if ids[a.ID] || a.ID == "" {
				t.Errorf("%s: aggregation id %q empty or repeated", o.Where(), a.ID)
			}
			ids[a.ID] = true
			if !contains(schemas, a.Schema) {
				t.Errorf("%s: aggregation %s has schema %q; a %s uses %v", o.Where(), a.ID, a.Schema, vis.Type, schemas)
			}
			if a.IsMetric() {
				metrics[a.ID] = true
			}
		}
		if series, ok := vis.Params["seriesParams"].([]any); ok {
			axes := map[string]bool{}
			valueAxes, _ := vis.Params["valueAxes"].([]any)
			for _, ax := range valueAxes {
				m, _ := ax.(map[string]any)
				id, _ := m["id"].(string)
				axes[id] = true
			}
			for _, sp := range series {
				m, _ := sp.(map[string]any)
				data, _ := m["data"].(map[string]any)
				id, _ := data["id"].(string)
				axis, _ := m["valueAxis"].(string)
				if !metrics[id] || !axes[axis] {
					t.Errorf("%s: series for metric %q on axis %q: want a metric and a value axis of the visualization", o.Where(), id, axis)
				}
			}
			if len(series) != len(metrics) {
				t.Errorf("%s: %d series for %d metrics", o.Where(), len(series), len(metrics))
			}
		}
		if len(vis.Aggs) > 0 {
			if _, err := s.VisualizationRequest(o.ID, SearchOptions{AutoInterval: "1d"}); err != nil {
				t.Error(err)
			}
		}
	}
	for _, o := range s.OfType(TypeSearch) {
		if _, err := s.SavedSearchRequest(o.ID, SearchOptions{}); err != nil {
			t.Error(err)
		}
	}
}

// TestFieldsExistInTemplatesWithUsableTypes: every field a visualization,
// saved search or index pattern uses exists in the index template of its
// index pattern, with a type that supports the use (keyword or number for
// terms and cardinality, date for date histograms and time fields, numbers
// for sums, sortable types for sorts).
func TestFieldsExistInTemplatesWithUsableTypes(t *testing.T) {
	mappings, err := templateMappings()
	if err != nil {
		t.Fatal(err)
	}
	s := load(t)
	for _, o := range s.OfType(TypeIndexPattern) {
		if _, ok := mappingOfTitle(mappings, o.Title()); !ok {
			t.Errorf("%s: index pattern %q is none of the templates' %v", o.Where(), o.Title(), keys(mappings))
		}
	}
	for _, p := range checkFields(s, mappings) {
		t.Error(p)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFieldCheckFailsOnTemplateChanges: the field check above notices a
// renamed template field and a field whose type no longer supports its
// use, so it cannot pass while the saved objects have drifted.
func TestFieldCheckFailsOnTemplateChanges(t *testing.T) {
	s := load(t)
	events := eventdoc.Pattern(templates.DefaultEventsPrefix)
	audit := eventdoc.AuditPattern(templates.DefaultEventsPrefix)
	deadLetters := eventdoc.DeadLetterPattern(templates.DefaultEventsPrefix)
	for _, tt := range []struct {
		name    string
		pattern string
		change  func(mapping)
		want    []string
	}{
		{"user_id renamed", events, func(mp mapping) { mp["user_uid"] = mp["user_id"]; delete(mp, "user_id") },
			[]string{`cardinality uses field "user_id"`, `column uses field "user_id"`, `query uses field "user_id"`}},
		{"event_name made text", events, func(mp mapping) { mp["event_name"] = field{typ: "text", docValues: true, indexed: true} },
			[]string{`terms on field "event_name" of type text`}},
		{"timestamp made keyword", events, func(mp mapping) { mp["timestamp"] = field{typ: "keyword", docValues: true, indexed: true} },
			[]string{`date_histogram on field "timestamp" of type keyword`, `time field on field "timestamp"`}},
		{"clock_skewed removed", events, func(mp mapping) { delete(mp, "clock_skewed") },
			[]string{`query uses field "clock_skewed"`}},
		{"audit app_id moved into the filters flat_object", audit, func(mp mapping) {
			delete(mp, "app_id")
			mp["filters"] = field{typ: "flat_object", indexed: true}
		},
			[]string{`column uses field "app_id"`, `terms uses field "app_id"`}},
		{"results made keyword", audit, func(mp mapping) { mp["results"] = field{typ: "keyword", docValues: true, indexed: true} },
			[]string{`sum on field "results" of type keyword`}},
		{"app_version without doc values", events, func(mp mapping) { mp["app_version"] = field{typ: "keyword", indexed: true} },
			[]string{`terms on field "app_version", whose doc values the template turns off`}},
		{"failed_at without doc values", deadLetters, func(mp mapping) { mp["failed_at"] = field{typ: "date", indexed: true} },
			[]string{`sort on field "failed_at", whose doc values`, `time field on field "failed_at", whose doc values`}},
		{"clock_skewed without an index", events, func(mp mapping) { mp["clock_skewed"] = field{typ: "boolean", docValues: true} },
			[]string{`query on field "clock_skewed", whose index the template turns off`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mappings, err := templateMappings()
			if err != nil {
				t.Fatal(err)
			}
			changed := mapping{}
			for k, v := range mappings[tt.pattern] {
				changed[k] = v
			}
			tt.change(changed)
			mappings[tt.pattern] = changed
			problems := strings.Join(checkFields(s, mappings), "\n")
			for _, w := range tt.want {
				if !strings.Contains(problems, w) {
					t.Errorf("no problem %q among:\n%s", w, problems)
				}
			}
		})
	}
	if p := checkFields(s, map[string]mapping{}); len(p) == 0 {
		t.Error("no problems without any template")
	}
}

// TestErrorEventsAreDefinedOnce: what counts as an error-named event is
// one saved search's filter; every panel about error events is built on
// that search instead of repeating the rule.
func TestErrorEventsAreDefinedOnce(t *testing.T) {
	s := load(t)
	const id = "error-named-events"
	var holders []string
	for _, o := range s.Objects {
		if bytes.Contains(o.raw, []byte(`*crash*`)) || bytes.Contains(o.raw, []byte(`*exception*`)) {
			holders = append(holders, o.Key())
		}
	}
	if fmt.Sprint(holders) != fmt.Sprint([]string{"search:" + id}) {
		t.Fatalf("the error-name rule is written in %v, want only search:%s", holders, id)
	}
	users := 0
	for _, o := range s.OfType(TypeVisualization) {
		if strings.Contains(strings.ToLower(o.Title()), "error") {
			ref, ok := o.Ref("search_0")
			if n, _ := o.Attributes["savedSearchRefName"].(string); !ok || n != "search_0" || ref.ID != id {
				t.Errorf("%s is about error events but not built on the saved search %s", o.Where(), id)
			}
			users++
		}
	}
	if users == 0 {
		t.Error("no visualization of error-named events")
	}
}

// TestNDJSONForPrefix: the import file holds every object once, index
// patterns first, with the index patterns' titles rewritten for another
// prefix and nothing else changed.
func TestNDJSONForPrefix(t *testing.T) {
	s := load(t)
	b, n, err := s.NDJSON("staging-events")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(s.Objects) {
		t.Fatalf("%d objects, want %d", n, len(s.Objects))
	}
	re, err := LoadFS(fstest.MapFS{"all.ndjson": {Data: b}})
	if err != nil {
		t.Fatal(err)
	}
	if re.Objects[0].Type != TypeIndexPattern {
		t.Errorf("first object %s, want an index pattern", re.Objects[0].Key())
	}
	var titles []string
	for _, o := range re.OfType(TypeIndexPattern) {
		titles = append(titles, o.Title())
		orig, _ := s.Get(o.Type, o.ID)
		if o.Attributes["timeFieldName"] != orig.Attributes["timeFieldName"] || o.Attributes["fieldFormatMap"] != orig.Attributes["fieldFormatMap"] {
			t.Errorf("%s: attributes changed beyond the title", o.Key())
		}
	}
	want := []string{"staging-events-*", "deadletter-staging-events-*,deadletter-staging-events", "audit-staging-events-*,audit-staging-events"}
	if fmt.Sprint(titles) != fmt.Sprint(want) {
		t.Errorf("titles %v, want %v", titles, want)
	}
	for _, o := range re.Objects {
		if o.Type == TypeIndexPattern {
			continue
		}
		orig, _ := s.Get(o.Type, o.ID)
		if !bytes.Equal(o.raw, orig.raw) {
			t.Errorf("%s changed", o.Key())
		}
	}
	if _, _, err := s.NDJSON("Bad Prefix"); err == nil {
		t.Error("an invalid prefix was accepted")
	}
}

// viewsWithBots are the event views that keep bot traffic: the pipeline's
// own throughput (every event flows through it) and one user's whole
// history (with a bot column instead).
var viewsWithBots = map[string]bool{
	"visualization:indexed-events-per-minute":  true,
	"visualization:events-received-per-minute": true,
	"search:user-timeline":                     true,
}

// TestAnalystViewsExcludeBots: every other saved search and visualization
// on the event indices carries an enabled "not a bot" filter (bot absent),
// itself or through its saved search, so bots are excluded by default and
// an analyst includes them by disabling one pill.
func TestAnalystViewsExcludeBots(t *testing.T) {
	s := load(t)
	checked := 0
	for _, typ := range []string{TypeSearch, TypeVisualization} {
		for _, o := range s.OfType(typ) {
			src, err := s.sourceOf(o)
			if err != nil || src.pattern.ID != "telemetry-events" {
				// Not on an index (a markdown panel) or on another index.
				continue
			}
			excludes := false
			for _, f := range src.filters {
				dsl, negate, disabled, err := FilterDSL(f)
				if err != nil {
					t.Fatal(err)
				}
				if ex, _ := dsl["exists"].(map[string]any); ex != nil && ex["field"] == "bot" && negate && !disabled {
					excludes = true
				}
			}
			if excludes == viewsWithBots[o.Key()] {
				t.Errorf("%s: excludes bots %v, want %v", o.Where(), excludes, !viewsWithBots[o.Key()])
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d event views checked", checked)
	}
}

// TestIndexPatternTitlesNameOneTemplate: an index pattern's title names
// the indices of one template only (its pattern, or the single index of
// earlier versions it replaced), so the field checks read one mapping and
// a pattern cannot count another kind's documents.
func TestIndexPatternTitlesNameOneTemplate(t *testing.T) {
	mappings, err := templateMappings()
	if err != nil {
		t.Fatal(err)
	}
	for title, want := range map[string]bool{
		"telemetry-events-*": true,
		"deadletter-telemetry-events-*,deadletter-telemetry-events": true,
		"audit-telemetry-events-*,audit-telemetry-events":           true,
		"telemetry-events-*,deadletter-telemetry-events-*":          false, // events and dead letters
		"telemetry-*":        false,
		"*telemetry-events*": false,
	} {
		if _, got := mappingOfTitle(mappings, title); got != want {
			t.Errorf("%q: one template %v, want %v", title, got, want)
		}
	}
	if got := PatternFor("deadletter-telemetry-events-*,deadletter-telemetry-events,other-*", "s"); got != "deadletter-s-*,deadletter-s,other-*" {
		t.Errorf("PatternFor: %q", got)
	}
}
