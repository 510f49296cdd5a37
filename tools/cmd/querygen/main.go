// Command querygen sends support-style queries to the query service's HTTP
// face — a random user's first page of events, or their summary — at a fixed
// rate (latency from the intended send time), or as fast as it can with
// -rate 0, and reports percentiles (querygen -h lists the flags). With
// -target opensearch it sends the service's search for a first page straight
// to OpenSearch, the raw side of the service's overhead.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/tools/querygen"
)

func main() {
	var cfg querygen.Config
	flag.StringVar(&cfg.Target, "target", querygen.TargetQuery, "query (the query service) or opensearch (the service's request for a first page, sent to OpenSearch itself)")
	flag.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8082", "the target's HTTP base URL (the query service, or OpenSearch with -target opensearch)")
	flag.StringVar(&cfg.Prefix, "prefix", "events", "event indices' prefix (-target opensearch)")
	flag.StringVar(&cfg.Token, "token", os.Getenv("QUERYGEN_TOKEN"), "read token (or QUERYGEN_TOKEN)")
	flag.IntVar(&cfg.Users, "users", 100000, "user ids user-0 … user-(n-1) to pick from")
	flag.Float64Var(&cfg.Rate, "rate", 50, "queries per second (open loop); 0 = as fast as possible (closed loop)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 16, "workers")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "measured duration")
	flag.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "unmeasured warm-up")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per-query timeout")
	flag.StringVar(&cfg.Query, "query", "events", "events (first page) or summary")
	out := flag.String("json", "", "write the result as JSON here")
	flag.Parse()
	if cfg.Token == "" && cfg.Target != querygen.TargetOpenSearch {
		fmt.Fprintln(os.Stderr, "querygen: -token is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := querygen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "querygen:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s queries for %.0fs: %d (%.0f/s; statuses %v, transport errors %d, empty %d)\n", res.Mode, res.Query, res.Seconds,
		res.Requests, res.RequestsPerSec, res.Statuses, res.TransportErrs, res.EmptyResults)
	l := res.LatencyMs
	fmt.Printf("latency ms  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	if *out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "querygen:", err)
			os.Exit(1)
		}
	}
}
