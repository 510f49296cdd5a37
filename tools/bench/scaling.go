package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// scalingStream is the stream of the scaling part.
const scalingStream = "BENCH_SCALE"

// scalingPart measures how ingest and enrich scale out on this machine, in
// one run against the same broker and OpenSearch node: ingest's closed-loop
// maximum with 1, then 2 instances (the load generator spreads its
// requests over them, as a load balancer would), and enrich's drain rate
// of a pre-filled stream with 1, then 2 instances sharing the durable
// consumer. Each figure comes with the CPU the instances used (from
// /proc/PID/stat), so the events/s per core of CPU — what the sizing of a
// deployment uses — can be read even where the cores, shared with the load
// generator, NATS and OpenSearch, cap the gain of a second instance.
func (r *runner) scalingPart(ctx context.Context) (*report.Scaling, error) {
	out := &report.Scaling{Concurrency: r.cfg.Concurrency, Duration: r.cfg.Duration, Events: r.cfg.EnrichEvents}
	for _, n := range []int{1, 2} {
		row, err := r.scaleIngest(ctx, n)
		if err != nil {
			return nil, err
		}
		out.Rows = append(out.Rows, row)
	}
	if err := r.startOpenSearch(ctx); err != nil {
		return nil, err
	}
	// A warm-up drain, discarded: a cold node (its JIT, its caches) would
	// slow the first measured drain only.
	for _, n := range []int{0, 1, 2} {
		prefix := fmt.Sprintf("benchscale-%d-%d", n, time.Now().Unix())
		row, err := r.scaleEnrich(ctx, max(n, 1), prefix)
		err = errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out.Rows = append(out.Rows, row)
		}
	}
	return out, nil
}

// scaleIngest measures n ingest instances on an empty broker, closed loop
// over cfg.Concurrency connections spread over them.
func (r *runner) scaleIngest(ctx context.Context, n int) (row report.ScalingRow, err error) {
	if err := r.freshBroker(ctx); err != nil {
		return row, err
	}
	var instances []*service
	defer func() { err = errors.Join(err, stop(instances...)) }()
	var urls []string
	for i := range n {
		s, err := r.startIngest(ctx, fmt.Sprintf("ingest-scale-%d-%d", n, i), scalingStream, map[string]string{"EVENTS_STREAM_MAX_BYTES": ingestMaxBytes})
		if err != nil {
			return row, err
		}
		instances = append(instances, s)
		urls = append(urls, s.URL+"/v1/track")
	}
	cfg := r.loadConfig(instances[0], r.cfg.Concurrency, 0, r.cfg.Duration)
	cfg.URLs = urls
	name := "scale-ingest-" + strconv.Itoa(n)
	r.logf("%s: closed loop, %d connections over %d instances, %s", name, cfg.Concurrency, n, cfg.Duration)
	cpu0 := cpuOf(instances)
	start := time.Now()
	res, err := loadgen.Run(ctx, cfg, newIDs())
	wall := time.Since(start)
	cores := (cpuOf(instances) - cpu0).Seconds() / wall.Seconds()
	if err != nil {
		return row, fmt.Errorf("%s: %w", name, err)
	}
	if err := r.writeJSON(name, loadgen.Report{Result: res}); err != nil {
		return row, err
	}
	if res.EventsAccepted == 0 {
		return row, fmt.Errorf("%s: nothing accepted (statuses %v, transport errors %d)", name, res.Statuses, res.TransportErrs)
	}
	row = report.ScalingRow{Service: "ingest", Instances: n, EventsPerSec: res.EventsPerSec, CPUCores: cores, PerCore: res.EventsPerSec / cores}
	r.logf("  %.0f events/s accepted, ingest on %.2f cores: %.0f events/s per core; statuses %v", res.EventsPerSec, cores, row.PerCore, res.Statuses)
	return row, nil
}

// scaleEnrich pre-fills a stream with cfg.EnrichEvents events and measures
// how fast n enrich instances sharing the consumer drain it into the
// indices of prefix (enrichbench -mode drain), with the CPU they used.
func (r *runner) scaleEnrich(ctx context.Context, n int, prefix string) (row report.ScalingRow, err error) {
	const stream = "BENCH_SCALE_ENRICH"
	if err := r.freshBroker(ctx); err != nil { // nothing of the ingest runs left
		return row, err
	}
	if err := r.waitNoMerges(ctx, "the drain"); err != nil {
		return row, err
	}
	name := "scale-enrich-" + strconv.Itoa(n)
	r.logf("%s: filling a stream with %d events", name, r.cfg.EnrichEvents)
	var fill struct{}
	if err := r.enrichbench(ctx, name+"-fill", &fill, "-mode", "fill", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-batch", fmt.Sprint(r.cfg.Batch),
		"-nats", r.broker.URL, "-stream", stream, "-subject", subject(stream)); err != nil {
		return row, err
	}
	r.logf("%s: %d enrich instances draining them", name, n)
	// The clock starts when the consumer appears (the first instance's).
	drain, err := r.startEnrichbench(name+"-drain", "-mode", "drain", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-nats", r.broker.URL, "-stream", stream)
	if err != nil {
		return row, err
	}
	var instances []*service
	defer func() { err = errors.Join(err, stop(instances...)) }()
	for i := range n {
		s, err := r.startEnrich(ctx, fmt.Sprintf("enrich-scale-%d-%d", n, i), stream, prefix)
		if err != nil {
			return row, err
		}
		instances = append(instances, s)
	}
	var res struct {
		DocsPerSec float64 `json:"docs_per_sec"`
		Seconds    float64 `json:"seconds"`
	}
	if err := drain.finish(ctx, &res); err != nil {
		return row, err
	}
	// Since they started: start-up is a small part of it.
	cores := cpuOf(instances).Seconds() / res.Seconds
	if err := stop(instances...); err != nil {
		return row, err
	}
	instances = nil
	if err := r.deleteStream(ctx, stream); err != nil {
		return row, err
	}
	row = report.ScalingRow{Service: "enrich", Instances: n, EventsPerSec: res.DocsPerSec, CPUCores: cores, PerCore: res.DocsPerSec / cores}
	r.logf("  %.0f documents/s, enrich on %.2f cores: %.0f documents/s per core", res.DocsPerSec, cores, row.PerCore)
	return row, nil
}

// cpuOf is the CPU time the services used so far, together.
func cpuOf(services []*service) time.Duration {
	var sum time.Duration
	for _, s := range services {
		t, _ := s.CPUTime()
		sum += t
	}
	return sum
}
