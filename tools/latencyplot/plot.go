// Package latencyplot draws the ingest latency curve of a bench run: p50 and
// p99 against accepted events/s of the open-loop runs, one pair of lines per
// series (the durable ingest next to the naive baseline).
package latencyplot

import (
	"errors"
	"fmt"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Point is one open-loop run.
type Point struct {
	EventsPerSec float64
	P50, P99     float64 // ms
}

// Series is one front door's runs.
type Series struct {
	Name   string
	Points []Point
}

// Write draws the series into a PNG (or SVG, PDF: by path's extension).
func Write(path string, series []Series) error {
	p := plot.New()
	p.Title.Text = "Ingest latency against load (open loop, 100-event batches)"
	p.X.Label.Text = "accepted events/s"
	p.Y.Label.Text = "latency ms (from intended send time)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var lines []any
	for _, s := range series {
		var pts []Point
		for _, pt := range s.Points {
			if pt.EventsPerSec > 0 && pt.P50 > 0 && pt.P99 > 0 { // a log scale has no 0
				pts = append(pts, pt)
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].EventsPerSec < pts[j].EventsPerSec })
		p50, p99 := make(plotter.XYs, len(pts)), make(plotter.XYs, len(pts))
		for i, pt := range pts {
			p50[i] = plotter.XY{X: pt.EventsPerSec, Y: pt.P50}
			p99[i] = plotter.XY{X: pt.EventsPerSec, Y: pt.P99}
		}
		lines = append(lines, s.Name+" p50", p50, s.Name+" p99", p99)
	}
	if len(lines) == 0 {
		return errors.New("latency plot: no open-loop results to draw")
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return fmt.Errorf("latency plot: %w", err)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("latency plot %s: %w", path, err)
	}
	return nil
}
