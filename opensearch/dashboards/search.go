package dashboards

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
)

// SearchOptions are what Dashboards adds to a saved object's request from
// the user's session: the time range, the time zone, and the interval an
// "auto" date histogram gets for that range.
type SearchOptions struct {
	// Prefix is the events index prefix whose indices are searched
	// (default templates.DefaultEventsPrefix); see PatternFor.
	Prefix string
	// TimeZone of date histograms (default UTC). Dashboards uses the
	// dateFormat:tz advanced setting, which defaults to the browser's zone.
	TimeZone string
	// AutoInterval replaces a date histogram's "auto" interval (Dashboards
	// derives it from the time range), e.g. "1d". Required when one is used.
	AutoInterval string
	// From and To filter on the index pattern's time field; zero: no
	// filter.
	From, To time.Time
	// Size is how many hits a saved search asks for (default 500,
	// Dashboards' discover:sampleSize).
	Size int
}

// Request is the search request Dashboards sends for a visualization or a
// saved search: POST /Index/_search with Body.
type Request struct {
	Index string
	Body  map[string]any

	buckets []Agg
	metrics []Agg
	loc     *time.Location
}

// source is an index pattern with the queries and filters of a search
// source chain (a visualization's own, then its saved search's).
type source struct {
	pattern Object
	queries []*Query
	filters []map[string]any
}

func (s *Set) sourceOf(o Object) (source, error) {
	var src source
	ss, err := o.SearchSource()
	if err != nil {
		return src, err
	}
	src.queries = append(src.queries, ss.Query)
	src.filters = append(src.filters, ss.Filter...)
	if ref, _ := o.Attributes["savedSearchRefName"].(string); ref != "" {
		search, err := s.Resolve(o, ref)
		if err != nil {
			return src, err
		}
		parent, err := s.sourceOf(search)
		if err != nil {
			return src, err
		}
		src.pattern = parent.pattern
		src.queries = append(src.queries, parent.queries...)
		src.filters = append(src.filters, parent.filters...)
		return src, nil
	}
	if ss.IndexRefName == "" {
		return src, fmt.Errorf("%s: no index pattern (indexRefName) and no saved search", o.Where())
	}
	if src.pattern, err = s.Resolve(o, ss.IndexRefName); err != nil {
		return src, err
	}
	if src.pattern.Type != TypeIndexPattern {
		return src, fmt.Errorf("%s: %s is a %s, not an index pattern", o.Where(), ss.IndexRefName, src.pattern.Type)
	}
	return src, nil
}

// query builds the bool query of src plus the time filter.
func (src source) query(opts SearchOptions) (map[string]any, error) {
	var filter, mustNot []any
	for _, q := range src.queries {
		if q == nil || q.Text() == "" {
			continue
		}
		if q.Language != "kuery" {
			return nil, fmt.Errorf("query %q in %s: only kuery (DQL) queries are translated", q.Text(), q.Language)
		}
		k, err := ParseKuery(q.Text())
		if err != nil {
			return nil, err
		}
		filter = append(filter, k.DSL())
	}
	for _, f := range src.filters {
		dsl, negate, disabled, err := FilterDSL(f)
		if err != nil {
			return nil, err
		}
		switch {
		case disabled:
		case negate:
			mustNot = append(mustNot, dsl)
		default:
			filter = append(filter, dsl)
		}
	}
	if !opts.From.IsZero() || !opts.To.IsZero() {
		tf, _ := src.pattern.Attributes["timeFieldName"].(string)
		if tf == "" {
			return nil, fmt.Errorf("%s has no time field to filter on", src.pattern.Where())
		}
		r := m{"format": "strict_date_optional_time"}
		if !opts.From.IsZero() {
			r["gte"] = opts.From.UTC().Format(time.RFC3339Nano)
		}
		if !opts.To.IsZero() {
			r["lte"] = opts.To.UTC().Format(time.RFC3339Nano)
		}
		filter = append(filter, m{"range": m{tf: r}})
	}
	b := m{}
	if filter != nil {
		b["filter"] = filter
	}
	if mustNot != nil {
		b["must_not"] = mustNot
	}
	if len(b) == 0 {
		return m{"match_all": m{}}, nil
	}
	return m{"bool": b}, nil
}

// FilterDSL returns the query of a saved filter (a filter pill) and its
// negate and disabled flags. A phrase, phrases or custom filter keeps its
// query under "query"; an exists or range filter is the query itself.
func FilterDSL(f map[string]any) (dsl map[string]any, negate, disabled bool, err error) {
	meta, _ := f["meta"].(map[string]any)
	negate, _ = meta["negate"].(bool)
	disabled, _ = meta["disabled"].(bool)
	if q, ok := f["query"].(map[string]any); ok {
		return q, negate, disabled, nil
	}
	dsl = m{}
	for k, v := range f {
		if k != "meta" && k != "$state" {
			dsl[k] = v
		}
	}
	if len(dsl) != 1 {
		return nil, false, false, fmt.Errorf("filter %v: want one query", f)
	}
	return dsl, negate, disabled, nil
}

func (opts SearchOptions) prefix() string {
	if opts.Prefix == "" {
		return templates.DefaultEventsPrefix
	}
	return opts.Prefix
}

// VisualizationRequest translates the visualization id into the search
// Dashboards sends for it: bucket aggregations nested in the order of the
// visState (Dashboards' AggConfigs), metrics under the innermost bucket
// (and under a terms bucket that is ordered by them), the query and filters
// of the visualization and its saved search, size 0.
func (s *Set) VisualizationRequest(id string, opts SearchOptions) (*Request, error) {
	o, ok := s.Get(TypeVisualization, id)
	if !ok {
		return nil, fmt.Errorf("no visualization %q", id)
	}
	vis, err := o.VisState()
	if err != nil {
		return nil, err
	}
	src, err := s.sourceOf(o)
	if err != nil {
		return nil, err
	}
	r := &Request{Index: PatternFor(src.pattern.Title(), opts.prefix())}
	if r.loc, err = time.LoadLocation(cmp(opts.TimeZone, "UTC")); err != nil {
		return nil, err
	}
	for _, a := range vis.Aggs {
		switch {
		case !a.On():
		case a.IsBucket():
			r.buckets = append(r.buckets, a)
		case a.IsMetric():
			r.metrics = append(r.metrics, a)
		default:
			return nil, fmt.Errorf("%s: aggregation %s of type %q is not translated (extend search.go)", o.Where(), a.ID, a.Type)
		}
	}
	if len(r.metrics) == 0 {
		return nil, fmt.Errorf("%s: no metric", o.Where())
	}
	aggs := m{}
	for _, a := range r.metrics {
		if a.Type != "count" {
			aggs[a.ID] = metricDSL(a)
		}
	}
	for i := len(r.buckets) - 1; i >= 0; i-- {
		b := r.buckets[i]
		dsl, err := r.bucketDSL(b, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Where(), err)
		}
		if b.Type == "terms" {
			if by := b.Str("orderBy"); by != "_key" {
				metric, ok := r.metric(by)
				if !ok {
					return nil, fmt.Errorf("%s: terms %s ordered by %q, which is no metric of the visualization", o.Where(), b.ID, by)
				}
				if metric.Type != "count" {
					aggs[metric.ID] = metricDSL(metric)
				}
			}
		}
		if len(aggs) > 0 {
			dsl["aggs"] = aggs
		}
		aggs = m{b.ID: dsl}
	}
	q, err := src.query(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Where(), err)
	}
	r.Body = m{"size": 0, "track_total_hits": true, "query": q}
	if len(aggs) > 0 {
		r.Body["aggs"] = aggs
	}
	return r, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (r *Request) metric(id string) (Agg, bool) {
	for _, a := range r.metrics {
		if a.ID == id {
			return a, true
		}
	}
	return Agg{}, false
}

func metricDSL(a Agg) map[string]any {
	return m{a.Type: m{"field": a.Str("field")}}
}

var intervalRE = regexp.MustCompile(`^([0-9]*)(ms|s|m|h|d|w|M|q|y)$`)

// dateInterval is Dashboards' date histogram interval: a single calendar
// unit ("d", "1w", "m") is a calendar_interval, a multiple a fixed_interval.
func dateInterval(interval string) (string, string, error) {
	g := intervalRE.FindStringSubmatch(interval)
	if g == nil {
		return "", "", fmt.Errorf("date histogram interval %q is not translated", interval)
	}
	n, unit := cmp(g[1], "1"), g[2]
	if n == "1" && unit != "ms" && unit != "s" {
		return "calendar_interval", "1" + unit, nil
	}
	if strings.ContainsAny(unit, "wMqy") {
		return "", "", fmt.Errorf("date histogram interval %q: multiples of calendar units are not supported", interval)
	}
	return "fixed_interval", n + unit, nil
}

func (r *Request) bucketDSL(b Agg, opts SearchOptions) (map[string]any, error) {
	switch b.Type {
	case "date_histogram":
		interval := b.Str("interval")
		if interval == "auto" {
			if opts.AutoInterval == "" {
				return nil, fmt.Errorf("date histogram %s has interval auto: set SearchOptions.AutoInterval", b.ID)
			}
			interval = opts.AutoInterval
		}
		if interval == "custom" {
			interval = b.Str("customInterval")
		}
		kind, value, err := dateInterval(interval)
		if err != nil {
			return nil, err
		}
		minDocs := 1 // Dashboards' default: no empty buckets
		if _, set := b.Params["min_doc_count"]; set {
			minDocs = b.Int("min_doc_count")
		}
		dh := m{"field": b.Str("field"), kind: value, "time_zone": r.loc.String(), "min_doc_count": minDocs}
		return m{"date_histogram": dh}, nil
	case "terms":
		order := cmp(b.Str("order"), "desc")
		var by map[string]any
		switch id := b.Str("orderBy"); {
		case id == "_key":
			by = m{"_key": order}
		default:
			metric, ok := r.metric(id)
			if ok && metric.Type == "count" {
				by = m{"_count": order}
			} else {
				by = m{id: order}
			}
		}
		t := m{"field": b.Str("field"), "size": b.Int("size"), "order": by}
		if b.Bool("missingBucket") {
			t["missing"] = "__missing__"
		}
		if b.Bool("otherBucket") {
			return nil, fmt.Errorf("terms %s: the other bucket (a second request) is not translated", b.ID)
		}
		return m{"terms": t}, nil
	case "filters":
		filters := m{}
		list, _ := b.Params["filters"].([]any)
		for _, item := range list {
			f, _ := item.(map[string]any)
			input, _ := f["input"].(map[string]any)
			text, _ := input["query"].(string)
			if lang, _ := input["language"].(string); lang != "kuery" {
				return nil, fmt.Errorf("filters %s: only kuery (DQL) queries are translated, not %q", b.ID, lang)
			}
			label, _ := f["label"].(string)
			k, err := ParseKuery(text)
			if err != nil {
				return nil, fmt.Errorf("filters %s: %w", b.ID, err)
			}
			q := k.DSL()
			if q == nil {
				q = m{"match_all": m{}}
			}
			filters[cmp(label, text)] = q
		}
		return m{"filters": m{"filters": filters}}, nil
	}
	return nil, fmt.Errorf("bucket aggregation %q is not translated", b.Type)
}

// SavedSearchRequest translates the saved search id into the request
// Discover sends: its query and filters, sorted as saved, opts.Size hits.
func (s *Set) SavedSearchRequest(id string, opts SearchOptions) (*Request, error) {
	o, ok := s.Get(TypeSearch, id)
	if !ok {
		return nil, fmt.Errorf("no saved search %q", id)
	}
	src, err := s.sourceOf(o)
	if err != nil {
		return nil, err
	}
	q, err := src.query(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Where(), err)
	}
	var order []any
	for _, s := range SortOf(o) {
		order = append(order, m{s[0]: m{"order": s[1], "unmapped_type": "boolean"}})
	}
	body := m{"size": cmpInt(opts.Size, 500), "track_total_hits": true, "query": q}
	if order != nil {
		body["sort"] = order
	}
	return &Request{Index: PatternFor(src.pattern.Title(), opts.prefix()), Body: body}, nil
}

func cmpInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// SortOf returns a saved search's sort as [field, direction] pairs.
func SortOf(o Object) [][2]string {
	var out [][2]string
	list, _ := o.Attributes["sort"].([]any)
	for _, item := range list {
		pair, _ := item.([]any)
		if len(pair) == 2 {
			f, _ := pair[0].(string)
			d, _ := pair[1].(string)
			out = append(out, [2]string{f, d})
		}
	}
	return out
}

// Row is one row of a visualization's data as Dashboards tabulates it:
// the keys of the nested buckets, outermost first, and the metric values
// in the visState's order.
type Row struct {
	Keys   []string
	Values []string
}

// String renders the row as "key / key → value, value".
func (r Row) String() string {
	v := strings.Join(r.Values, ", ")
	if len(r.Keys) == 0 {
		return v
	}
	return strings.Join(r.Keys, " / ") + " → " + v
}

// Rows tabulates a search response to r: one row per innermost bucket, in
// the order OpenSearch returned them (filters buckets by label).
func (r *Request) Rows(response []byte) ([]Row, error) {
	var res struct {
		Hits struct {
			Total struct {
				Value json.Number `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggregations map[string]any `json:"aggregations"`
	}
	d := json.NewDecoder(strings.NewReader(string(response)))
	d.UseNumber()
	if err := d.Decode(&res); err != nil {
		return nil, fmt.Errorf("decode search response: %w", err)
	}
	top := res.Aggregations
	if top == nil {
		top = m{}
	}
	top["doc_count"] = res.Hits.Total.Value
	var rows []Row
	err := r.walk(top, 0, nil, &rows)
	return rows, err
}

func (r *Request) walk(node map[string]any, level int, keys []string, rows *[]Row) error {
	if level == len(r.buckets) {
		row := Row{Keys: append([]string(nil), keys...)}
		for _, a := range r.metrics {
			var v any
			if a.Type == "count" {
				v = node["doc_count"]
			} else {
				mv, _ := node[a.ID].(map[string]any)
				v = mv["value"]
			}
			row.Values = append(row.Values, formatValue(v))
		}
		*rows = append(*rows, row)
		return nil
	}
	b := r.buckets[level]
	agg, ok := node[b.ID].(map[string]any)
	if !ok {
		return fmt.Errorf("response has no aggregation %s", b.ID)
	}
	switch list := agg["buckets"].(type) {
	case []any:
		for _, item := range list {
			bucket, _ := item.(map[string]any)
			key, err := r.bucketKey(b, bucket)
			if err != nil {
				return err
			}
			if err := r.walk(bucket, level+1, append(keys, key), rows); err != nil {
				return err
			}
		}
	case map[string]any: // keyed filters
		labels := make([]string, 0, len(list))
		for k := range list {
			labels = append(labels, k)
		}
		sort.Strings(labels)
		for _, k := range labels {
			bucket, _ := list[k].(map[string]any)
			if err := r.walk(bucket, level+1, append(keys, k), rows); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("aggregation %s has no buckets", b.ID)
	}
	return nil
}

func (r *Request) bucketKey(b Agg, bucket map[string]any) (string, error) {
	if b.Type == "date_histogram" {
		n, ok := bucket["key"].(json.Number)
		ms, err := n.Int64()
		if !ok || err != nil {
			return "", fmt.Errorf("date histogram %s: bucket key %v", b.ID, bucket["key"])
		}
		return time.UnixMilli(ms).In(r.loc).Format(time.RFC3339), nil
	}
	if s, ok := bucket["key_as_string"].(string); ok {
		return s, nil
	}
	return fmt.Sprint(bucket["key"]), nil
}

func formatValue(v any) string {
	n, ok := v.(json.Number)
	if !ok {
		return "-"
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}
