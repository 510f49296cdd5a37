// Command loadgen sends realistic /v1/track traffic to an ingest service and
// reports throughput and latency; with -searchable-url it also accounts, id
// by id, for every accepted event in OpenSearch (loadgen -h lists the flags).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/tools/loadgen"
)

func main() {
	var cfg loadgen.Config
	var out string
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080/v1/track", "ingest /v1/track URL")
	flag.StringVar(&cfg.WriteKey, "key", os.Getenv("LOADGEN_WRITE_KEY"), "write key (or LOADGEN_WRITE_KEY)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 32, "connections and workers")
	flag.Float64Var(&cfg.Rate, "rate", 0, "requests per second (open loop); 0 = as fast as possible (closed loop)")
	flag.DurationVar(&cfg.Duration, "duration", 20*time.Second, "measured duration")
	flag.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "unmeasured warm-up")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.BoolVar(&cfg.Gzip, "gzip", false, "gzip request bodies")
	flag.IntVar(&cfg.Templates, "templates", 64, "distinct batches to rotate through")
	flag.IntVar(&cfg.Traffic.BatchSize, "batch", 100, "events per request")
	flag.IntVar(&cfg.Traffic.Users, "users", 10000, "distinct users")
	flag.Float64Var(&cfg.Traffic.InvalidRate, "invalid", 0, "share of events made invalid on purpose")
	flag.StringVar(&out, "json", "", "write the result as JSON to this file")
	flag.Float64Var(&cfg.RetryRate, "retry", 0, "share of accepted requests sent again unchanged (must be stored once)")
	searchURL := flag.String("searchable-url", "", "end-to-end mode: OpenSearch URL to watch for the accepted events")
	searchPattern := flag.String("searchable-index", "telemetry-events-*", "end-to-end mode: index pattern to search")
	grace := flag.Duration("searchable-grace", 30*time.Second, "end-to-end mode: how long to wait for stragglers after the load")
	flag.Parse()
	if cfg.WriteKey == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -key or LOADGEN_WRITE_KEY is required")
		os.Exit(2)
	}
	cfg.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ids := loadgen.NewIDs(strconv.FormatInt(time.Now().Unix()%100000000, 36))
	var res loadgen.Result
	var e2e *loadgen.SearchableResult
	var err error
	if *searchURL != "" {
		var r loadgen.SearchableResult
		res, r, err = loadgen.RunEndToEnd(ctx, cfg, ids, *searchURL, *searchPattern, *grace)
		e2e = &r
	} else {
		res, err = loadgen.Run(ctx, cfg, ids)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Printf("%s, concurrency %d, batch %d (%d bytes), gzip %v, %.1fs\n", res.Mode, res.Concurrency, res.BatchSize, res.BodyBytes, res.Gzip, res.Seconds)
	fmt.Printf("requests %d (%.0f/s)  statuses %v  transport errors %d\n", res.Requests, res.RequestsPerSec, res.Statuses, res.TransportErrs)
	fmt.Printf("events sent %d, accepted %d (%.0f/s)\n", res.EventsSent, res.EventsAccepted, res.EventsPerSec)
	l := res.LatencyMs
	fmt.Printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	if e2e != nil {
		t := e2e.TimeToSearchable
		fmt.Printf("time to searchable ms  p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (%d batches; %d never seen)\n", t.P50, t.P90, t.P99, t.Max, e2e.Batches, e2e.NeverSeen)
		fmt.Printf("accounting: %s (by distinct ids; %d documents, %d ids indexed without a 202)\n", e2e.Accounting, e2e.Documents, e2e.Unaccepted)
	}
	if out != "" {
		b, _ := json.MarshalIndent(loadgen.Report{Result: res, EndToEnd: e2e}, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	}
}
