// Command benchplot draws the ingest latency curve of a bench run: p50 and
// p99 against accepted events/s for the open-loop runs, the durable ingest
// next to the naive baseline.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

type run struct {
	EventsPerSec float64 `json:"accepted_events_per_sec"`
	Latency      struct {
		P50 float64 `json:"P50"`
		P99 float64 `json:"P99"`
	} `json:"latency_ms"`
}

func main() {
	dir := flag.String("dir", "", "bench result folder (.cache/bench/<time>)")
	out := flag.String("out", "", "PNG to write")
	flag.Parse()
	if *dir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "benchplot: -dir and -out are required")
		os.Exit(2)
	}
	p := plot.New()
	p.Title.Text = "Ingest latency against load (open loop, 100-event batches)"
	p.X.Label.Text = "accepted events/s"
	p.Y.Label.Text = "latency ms (from intended send time)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var lines []any
	for _, series := range []struct{ prefix, name string }{{"ingest-open-", "ingest (durable)"}, {"naive-open-", "naive (not durable)"}} {
		files, _ := filepath.Glob(filepath.Join(*dir, series.prefix+"*.json"))
		var runs []run
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var r run
			if json.Unmarshal(b, &r) == nil && r.EventsPerSec > 0 {
				runs = append(runs, r)
			}
		}
		if len(runs) == 0 {
			continue
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].EventsPerSec < runs[j].EventsPerSec })
		p50, p99 := make(plotter.XYs, len(runs)), make(plotter.XYs, len(runs))
		for i, r := range runs {
			p50[i] = plotter.XY{X: r.EventsPerSec, Y: r.Latency.P50}
			p99[i] = plotter.XY{X: r.EventsPerSec, Y: r.Latency.P99}
		}
		lines = append(lines, series.name+" p50", p50, series.name+" p99", p99)
	}
	if len(lines) == 0 {
		fmt.Fprintln(os.Stderr, "benchplot: no open-loop results in", *dir)
		os.Exit(1)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	fmt.Println(strings.TrimSpace(*out))
}
