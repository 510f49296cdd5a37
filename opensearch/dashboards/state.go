package dashboards

import (
	"encoding/json"
	"fmt"
)

// VisState is a visualization's visState attribute.
type VisState struct {
	Title  string         `json:"title"`
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
	Aggs   []Agg          `json:"aggs"`
}

// Agg is one aggregation of a visualization: a metric (count,
// cardinality, sum, …) or a bucket (date_histogram, terms, filters).
type Agg struct {
	ID      string         `json:"id"`
	Enabled *bool          `json:"enabled,omitempty"`
	Type    string         `json:"type"`
	Schema  string         `json:"schema"`
	Params  map[string]any `json:"params"`
}

// On reports whether the aggregation is enabled (the default).
func (a Agg) On() bool { return a.Enabled == nil || *a.Enabled }

// Str returns the string parameter key.
func (a Agg) Str(key string) string { s, _ := a.Params[key].(string); return s }

// Int returns the integer parameter key (0 when absent).
func (a Agg) Int(key string) int {
	switch v := a.Params[key].(type) {
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	case float64:
		return int(v)
	}
	return 0
}

// Bool returns the boolean parameter key.
func (a Agg) Bool(key string) bool { b, _ := a.Params[key].(bool); return b }

// Metric aggregation types and the field types each accepts.
var metricAggs = map[string]bool{"count": true, "cardinality": true, "sum": true, "avg": true, "min": true, "max": true}

// Bucket aggregation types.
var bucketAggs = map[string]bool{"date_histogram": true, "terms": true, "filters": true}

// IsMetric reports whether a is a metric aggregation.
func (a Agg) IsMetric() bool { return metricAggs[a.Type] }

// IsBucket reports whether a is a bucket aggregation.
func (a Agg) IsBucket() bool { return bucketAggs[a.Type] }

// VisState decodes o's visState.
func (o Object) VisState() (VisState, error) {
	var v VisState
	ok, err := o.JSONAttribute("visState", &v)
	if err == nil && !ok {
		err = fmt.Errorf("%s: no visState", o.Where())
	}
	return v, err
}

// SearchSource is the kibanaSavedObjectMeta.searchSourceJSON attribute:
// the query and filters of a saved search or visualization, and its index
// pattern (by reference name).
type SearchSource struct {
	Query        *Query           `json:"query,omitempty"`
	Filter       []map[string]any `json:"filter"`
	IndexRefName string           `json:"indexRefName,omitempty"`
}

// Query is a query bar's content: text in a language (kuery is DQL).
type Query struct {
	Query    any    `json:"query"`
	Language string `json:"language"`
}

// Text returns the query text ("" for none).
func (q *Query) Text() string {
	if q == nil {
		return ""
	}
	s, _ := q.Query.(string)
	return s
}

// SearchSource decodes o's searchSourceJSON (an empty one when absent).
func (o Object) SearchSource() (SearchSource, error) {
	var s SearchSource
	_, err := o.JSONAttribute("kibanaSavedObjectMeta.searchSourceJSON", &s)
	return s, err
}

// Panel is one entry of a dashboard's panelsJSON.
type Panel struct {
	PanelIndex       string         `json:"panelIndex"`
	GridData         GridData       `json:"gridData"`
	PanelRefName     string         `json:"panelRefName"`
	EmbeddableConfig map[string]any `json:"embeddableConfig"`
	Version          string         `json:"version,omitempty"`
}

// GridData places a panel on the dashboard's 48-column grid.
type GridData struct {
	X int    `json:"x"`
	Y int    `json:"y"`
	W int    `json:"w"`
	H int    `json:"h"`
	I string `json:"i"`
}

// GridColumns is the width of a dashboard's grid.
const GridColumns = 48

// Panels decodes o's panelsJSON.
func (o Object) Panels() ([]Panel, error) {
	var p []Panel
	ok, err := o.JSONAttribute("panelsJSON", &p)
	if err == nil && !ok {
		err = fmt.Errorf("%s: no panelsJSON", o.Where())
	}
	return p, err
}
