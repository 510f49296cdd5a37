// Command benchplot draws the ingest latency curve of a bench run from its
// result folder: p50 and p99 against accepted events/s for the open-loop
// runs (ingest-open-*.json, naive-open-*.json), the durable ingest next to
// the naive baseline. tools/cmd/bench draws the same plot itself.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evtrack/telemetry/tools/latencyplot"
	"github.com/evtrack/telemetry/tools/loadgen"
)

func main() {
	dir := flag.String("dir", "", "bench result folder (.cache/bench/<time>)")
	out := flag.String("out", "", "PNG to write")
	flag.Parse()
	if *dir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "benchplot: -dir and -out are required")
		os.Exit(2)
	}
	var series []latencyplot.Series
	for _, s := range []struct{ prefix, name string }{{"ingest-open-", "ingest (durable)"}, {"naive-open-", "naive (not durable)"}} {
		files, _ := filepath.Glob(filepath.Join(*dir, s.prefix+"*.json"))
		sr := latencyplot.Series{Name: s.name}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "benchplot:", err)
				os.Exit(1)
			}
			var r loadgen.Report
			if err := json.Unmarshal(b, &r); err != nil {
				fmt.Fprintf(os.Stderr, "benchplot: %s: %v\n", f, err)
				os.Exit(1)
			}
			sr.Points = append(sr.Points, latencyplot.Point{EventsPerSec: r.EventsPerSec, P50: r.LatencyMs.P50, P99: r.LatencyMs.P99})
		}
		series = append(series, sr)
	}
	if err := latencyplot.Write(*out, series); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}
