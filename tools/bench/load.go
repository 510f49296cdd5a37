package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// loadConfig is the load generator's configuration for a run at target:
// rate requests/s (0: closed loop as fast as conc connections go).
func (r *runner) loadConfig(target *service, conc int, rate float64, d time.Duration) loadgen.Config {
	return loadgen.Config{URL: target.URL + "/v1/track", WriteKey: writeKey, Concurrency: conc, Rate: rate, Duration: d,
		Warmup: r.cfg.Warmup, Timeout: 10 * time.Second, Templates: 64, Traffic: loadgen.Traffic{BatchSize: r.cfg.Batch, Users: 10000}}
}

// newIDs returns event ids unique to one load run.
func newIDs() *loadgen.IDs {
	return loadgen.NewIDs(strconv.FormatInt(time.Now().UnixNano()/1000%1e10, 36))
}

// load runs the load generator, keeps its result as name.json and reads the
// CPU time the target used meanwhile. A run in which nothing was accepted
// is an error: no ceiling or latency can be read from it.
func (r *runner) load(ctx context.Context, name string, target *service, cfg loadgen.Config) (report.Load, loadgen.Result, error) {
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f requests/s", cfg.Rate)
	}
	r.logf("%s: %s, %d connections, %s", name, mode, cfg.Concurrency, cfg.Duration)
	progress, err := os.Create(filepath.Join(r.out, name+".progress")) // a line a second: when the tail grew
	if err != nil {
		return report.Load{}, loadgen.Result{}, fmt.Errorf("%s: %w", name, err)
	}
	defer progress.Close()
	cfg.Progress = progress
	cpu0, _ := target.CPUTime()
	start := time.Now()
	res, err := loadgen.Run(ctx, cfg, newIDs())
	wall := time.Since(start)
	cpu1, _ := target.CPUTime()
	if err != nil {
		return report.Load{}, res, fmt.Errorf("%s: %w", name, err)
	}
	if ctx.Err() != nil {
		return report.Load{}, res, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if err := r.writeJSON(name, loadgen.Report{Result: res}); err != nil {
		return report.Load{}, res, err
	}
	r.logf("  %.0f events/s accepted, p50 %.2f ms, p99 %.2f ms, statuses %v, transport errors %d",
		res.EventsPerSec, res.LatencyMs.P50, res.LatencyMs.P99, res.Statuses, res.TransportErrs)
	if res.EventsAccepted == 0 {
		return report.Load{}, res, fmt.Errorf("%s: nothing accepted (statuses %v, transport errors %d); see %s.log", name, res.Statuses, res.TransportErrs, target.Name())
	}
	return loadOf(res, (cpu1-cpu0).Seconds()/wall.Seconds()), res, nil
}

func loadOf(res loadgen.Result, cores float64) report.Load {
	return report.Load{EventsPerSec: res.EventsPerSec, Seconds: res.Seconds, Latency: res.LatencyMs, Statuses: res.Statuses,
		Transport: res.TransportErrs, CPUCores: cores}
}
