// Package promscrape reads a Prometheus text endpoint (a service's /metrics)
// and sums the samples of one metric that carry given labels, or the
// buckets of one histogram to estimate its quantiles between two scrapes.
package promscrape

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Labels select samples: each one must carry every label with its value.
type Labels map[string]string

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// Scrape GETs url and parses it.
func Scrape(ctx context.Context, client *http.Client, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", url, res.Status)
	}
	fams, err := Parse(res.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return fams, nil
}

// Sum adds up the samples of the counter, gauge or untyped metric name
// whose labels include every one of want. ok is false if the metric is not
// there at all (a gauge not yet set, a misspelt name).
func (f Families) Sum(name string, want Labels) (sum float64, ok bool) {
	fam, found := f[name]
	if !found {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !matches(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, true
}

func matches(m *dto.Metric, want Labels) bool {
	have := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			have++
		}
	}
	return have == len(want)
}

// Histogram is the cumulative buckets of a histogram metric, summed over
// its series: Counts[i] observations were at most Bounds[i] (the last bound
// is +Inf).
type Histogram struct {
	Bounds []float64
	Counts []float64
}

// Histogram adds up the buckets of the histogram name whose labels include
// every one of want. ok is false if the metric is not there or is not a
// histogram.
func (f Families) Histogram(name string, want Labels) (h Histogram, ok bool) {
	fam, found := f[name]
	if !found || fam.GetType() != dto.MetricType_HISTOGRAM {
		return Histogram{}, false
	}
	index := map[float64]int{}
	for _, m := range fam.GetMetric() {
		if !matches(m, want) || m.Histogram == nil {
			continue
		}
		hasInf := false
		for _, b := range m.Histogram.GetBucket() {
			hasInf = hasInf || math.IsInf(b.GetUpperBound(), 1)
			i, seen := index[b.GetUpperBound()]
			if !seen {
				i = len(h.Bounds)
				index[b.GetUpperBound()] = i
				h.Bounds = append(h.Bounds, b.GetUpperBound())
				h.Counts = append(h.Counts, 0)
			}
			h.Counts[i] += float64(b.GetCumulativeCount())
		}
		if hasInf {
			continue
		}
		// Without a +Inf bucket, it is the sample count.
		if _, seen := index[math.Inf(1)]; !seen {
			index[math.Inf(1)] = len(h.Bounds)
			h.Bounds = append(h.Bounds, math.Inf(1))
			h.Counts = append(h.Counts, 0)
		}
		h.Counts[index[math.Inf(1)]] += float64(m.Histogram.GetSampleCount())
	}
	sort.Sort(byBound(h))
	return h, true
}

type byBound Histogram

func (b byBound) Len() int           { return len(b.Bounds) }
func (b byBound) Less(i, j int) bool { return b.Bounds[i] < b.Bounds[j] }
func (b byBound) Swap(i, j int) {
	b.Bounds[i], b.Bounds[j] = b.Bounds[j], b.Bounds[i]
	b.Counts[i], b.Counts[j] = b.Counts[j], b.Counts[i]
}

// Since is what was observed after before, a scrape of the same histogram
// taken earlier: the bucket counts of this one less those of before.
func (h Histogram) Since(before Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts))}
	for i, c := range h.Counts {
		out.Counts[i] = c
		for j, b := range before.Bounds {
			if b == h.Bounds[i] {
				out.Counts[i] -= before.Counts[j]
			}
		}
	}
	return out
}

// Count is the number of observations.
func (h Histogram) Count() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Quantile estimates the q-quantile (0 < q < 1) as Prometheus's
// histogram_quantile does: linearly within the bucket it falls in, the
// lowest bucket starting at 0; in the +Inf bucket it is the highest finite
// bound. It is NaN without observations.
func (h Histogram) Quantile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if math.IsInf(h.Bounds[i], 1) {
				return lower
			}
			if c == below {
				return h.Bounds[i]
			}
			return lower + (h.Bounds[i]-lower)*(rank-below)/(c-below)
		}
		lower, below = h.Bounds[i], c
	}
	return lower
}
