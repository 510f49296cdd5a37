package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// costPart runs the whole pipeline (ingest → JetStream → enrich → OpenSearch)
// at a fraction of OpenSearch's raw _bulk rate sustained into growing indices
// (sustainedCeiling; the warm burst ceiling is reported beside it) for
// CostDuration and
// reads what an event costs: whether the lag stays flat at that rate, the
// CPU each process spends per million events over the measured window
// (/proc/PID/stat), the accounting by distinct ids, the bytes an event takes
// in OpenSearch once its index is merged as enrich's maintenance merges a
// closed day, and in the stream on disk, compressed and not.
func (r *runner) costPart(ctx context.Context) (_ *report.Cost, err error) {
	bulk, _, err := r.bulkCeiling(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.freshBroker(ctx); err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("bench-%d-cost", time.Now().Unix())
	defer func() { err = errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix)) }()
	sustained, err := r.sustainedCeiling(ctx, bulk.Median)
	if err != nil {
		return nil, err
	}
	points, err := stats.LoadPoints(sustained.DocsPerSec, r.cfg.Batch, r.cfg.CostFraction)
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	pt := points[0]
	out := &report.Cost{Ceiling: bulk, Sustained: sustained, Alone: r.bulkCost, Point: pt, Duration: r.cfg.CostDuration}

	const stream = "BENCH_COST"
	ingestEnv, err := r.debugEnv()
	if err != nil {
		return nil, err
	}
	enrichEnv, err := r.debugEnv()
	if err != nil {
		return nil, err
	}
	ingest, err := r.startIngest(ctx, "ingest-cost", stream, ingestEnv)
	if err != nil {
		return nil, err
	}
	enrich, err := r.startEnrichBin(ctx, "enrich", "enrich-cost", stream, prefix, enrichEnv)
	if err != nil {
		return nil, err
	}
	if err := r.waitNoMerges(ctx, "cost"); err != nil {
		return nil, err
	}
	ids := newIDs()
	watcher := loadgen.NewSearchable(r.openSearch.URL, prefix+"-*", ids)
	run := func(name string, d time.Duration) (loadgen.Result, error) {
		cfg := r.loadConfig(ingest, r.cfg.Concurrency, pt.Rate, d)
		cfg.Warmup = 0
		cfg.Traffic.InvalidRate = 0 // every event accounted for
		cfg.OnAccepted = watcher.Accepted
		res, err := loadgen.Run(ctx, cfg, ids)
		if err != nil {
			return res, fmt.Errorf("%s: %w", name, err)
		}
		return res, r.writeJSON(name, loadgen.Report{Result: res})
	}
	r.logf("cost: %.0f events/s (%.0f%% of the sustained raw _bulk rate), %s unmeasured, then %s measured",
		pt.Units, pt.Fraction*100, r.cfg.LagSample, r.cfg.CostDuration)
	if _, err := run("cost-warmup", r.cfg.LagSample); err != nil {
		return nil, err
	}
	measured := []struct {
		name string
		p    *procs.Proc
	}{{"ingest", ingest.Proc}, {"nats-server", r.broker.Proc}, {"enrich", enrich.Proc}, {"OpenSearch", r.openSearch.Proc}}
	before := make([]time.Duration, len(measured))
	for i, m := range measured {
		if before[i], err = m.p.CPUTime(); err != nil {
			return nil, fmt.Errorf("cost: CPU time of %s: %w", m.name, err)
		}
	}
	// The load generator runs in this process: not part of the pipeline,
	// but it takes CPU from the same two cores (the raw ceiling's client
	// only reads a file), so the report shows it beside the four.
	clientBefore, err := procs.ReadCPUTime(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("cost: CPU time of the load generator: %w", err)
	}
	var ackBefore, ackAfter float64
	if out.PendingBefore, ackBefore, err = r.consumerLag(ctx, enrich); err != nil {
		return nil, err
	}
	profiles := r.cpuProfiles(ctx, r.cfg.CostDuration, map[string]string{"ingest-cost": ingestEnv["DEBUG_ADDR"], "enrich-cost": enrichEnv["DEBUG_ADDR"],
		"nats-cost": r.broker.ProfAddr})
	res, err := run("cost", r.cfg.CostDuration)
	if err = errors.Join(err, profiles()); err != nil {
		return nil, err
	}
	for i, m := range measured {
		after, err := m.p.CPUTime()
		if err != nil {
			return nil, fmt.Errorf("cost: CPU time of %s: %w", m.name, err)
		}
		out.Procs = append(out.Procs, report.ProcCost{Name: m.name, CPUSeconds: (after - before[i]).Seconds()})
	}
	clientAfter, err := procs.ReadCPUTime(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("cost: CPU time of the load generator: %w", err)
	}
	out.Client = report.ProcCost{Name: "load generator (the bench process)", CPUSeconds: (clientAfter - clientBefore).Seconds()}
	if out.PendingAfter, ackAfter, err = r.consumerLag(ctx, enrich); err != nil {
		return nil, err
	}
	out.Load = loadOf(res, 0)
	out.Events = res.EventsAccepted
	// What enrich took and acked in the window: what was accepted, less
	// what its pending and ack-pending messages (a batch each) grew by.
	grew := out.PendingAfter + ackAfter - out.PendingBefore - ackBefore
	out.Delivered = max(0, res.EventsAccepted-int64(max(0, grew))*int64(r.cfg.Batch))
	out.Growing = stats.Growing(out.PendingBefore, out.PendingAfter, pt.Rate*r.cfg.CostDuration.Seconds())
	if res.EventsAccepted == 0 {
		return nil, fmt.Errorf("cost: nothing accepted (statuses %v)", res.Statuses)
	}
	r.logf("  %.0f events/s accepted; pending %.0f → %.0f messages", res.EventsPerSec, out.PendingBefore, out.PendingAfter)

	if err := r.waitDrained(ctx, stream); err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	if err := r.osJSON(ctx, http.MethodPost, "/"+prefix+"-*/_refresh", nil); err != nil {
		return nil, fmt.Errorf("cost: refresh: %w", err)
	}
	acc, err := watcher.Result(ctx)
	if err != nil {
		return nil, fmt.Errorf("cost: %w", err)
	}
	out.Accounting = acc.Accounting
	r.logf("  %s", acc.Accounting)
	if err := stop(ingest, enrich); err != nil {
		return nil, err
	}
	if out.IndexDocs, out.IndexBytes, err = r.storeSize(ctx, prefix); err != nil {
		return nil, err
	}
	r.logf("  OpenSearch: %d documents in %d bytes once merged", out.IndexDocs, out.IndexBytes)

	for _, compression := range []string{"s2", "none"} {
		s, err := r.streamOnDisk(ctx, compression)
		if err != nil {
			return nil, err
		}
		out.Stream = append(out.Stream, s)
	}
	return out, nil
}

// sustainedCeiling is OpenSearch's raw _bulk rate of the same documents
// sustained the way the pipeline writes them: rounds of cfg.EnrichEvents
// documents back to back into one set of daily indices, which grow — and
// merge — as the pipeline's do, until the rounds cover CostDuration at the
// warm ceiling burst (at least two). The warm ceiling writes each round into
// fresh indices and deletes them after it, so it never pays for the merges
// of a growing index; against it a sustained pipeline is read against a
// burst. OpenSearch's CPU over the rounds is kept beside the rate.
func (r *runner) sustainedCeiling(ctx context.Context, burst float64) (_ report.Sustained, err error) {
	prefix := fmt.Sprintf("bench-%d-sustained", time.Now().Unix())
	defer func() { err = errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix)) }()
	rounds := min(20, max(2, int(burst*r.cfg.CostDuration.Seconds()/float64(r.cfg.EnrichEvents)+0.999)))
	if err := r.waitNoMerges(ctx, "sustained"); err != nil {
		return report.Sustained{}, err
	}
	r.logf("cost: raw _bulk sustained, %d rounds of %d documents, built first, posted back to back into one set of indices", rounds, r.cfg.EnrichEvents)
	var res struct {
		Documents   int     `json:"documents"`
		DocsPerSec  float64 `json:"docs_per_sec"`
		FailedBulks int     `json:"failed_bulks"`
	}
	cpu0, err := r.openSearch.CPUTime()
	if err != nil {
		return report.Sustained{}, fmt.Errorf("sustained: CPU time of OpenSearch: %w", err)
	}
	// Each round's ids are its own (-rounds): the same documents again
	// would be refused as existing (409), which costs OpenSearch almost
	// nothing. One process posts them all without a pause, so no merge is
	// done between rounds.
	err = r.enrichbench(ctx, "bulk-sustained", &res, "-mode", "bulk", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-rounds", fmt.Sprint(rounds),
		"-opensearch", r.openSearch.URL, "-prefix", prefix, "-file", filepath.Join(r.out, "bulk-sustained.ndjson"),
		"-bulk-docs", fmt.Sprint(bulkDocs), "-in-flight", fmt.Sprint(bulkFlight))
	cpu1, cpuErr := r.openSearch.CPUTime()
	if err := errors.Join(err, cpuErr); err != nil {
		return report.Sustained{}, err
	}
	if res.FailedBulks > 0 || res.Documents == 0 || res.DocsPerSec <= 0 {
		return report.Sustained{}, fmt.Errorf("sustained: %d of its _bulk requests failed (%d documents); see bulk-sustained.json", res.FailedBulks, res.Documents)
	}
	// The CPU spans the building of the documents too, when OpenSearch has
	// nothing to do (the merges of earlier parts were waited for).
	out := report.Sustained{Rounds: rounds, Documents: int64(res.Documents), DocsPerSec: res.DocsPerSec, CPUSeconds: (cpu1 - cpu0).Seconds()}
	r.logf("  sustained: %.0f documents/s (%.2f of the warm ceiling)", out.DocsPerSec, out.DocsPerSec/burst)
	return out, nil
}

// streamOnDisk fills a stream of ingest's own making (with
// EVENTS_STREAM_COMPRESSION=compression) for CostStreamDuration, no consumer
// reading it, and returns what its files take on disk for the events it
// holds. The last block is written uncompressed until it is full, so a
// compressed stream's figure is a little above what a long-running one
// takes.
func (r *runner) streamOnDisk(ctx context.Context, compression string) (report.StreamDisk, error) {
	stream := "BENCH_DISK_" + strings.ToUpper(compression)
	ingest, err := r.startIngest(ctx, "ingest-disk-"+compression, stream, map[string]string{"EVENTS_STREAM_COMPRESSION": compression})
	if err != nil {
		return report.StreamDisk{}, err
	}
	cfg := r.loadConfig(ingest, r.cfg.Concurrency, 0, r.cfg.CostStreamDuration)
	cfg.Warmup = 0
	res, err := loadgen.Run(ctx, cfg, newIDs())
	if err != nil {
		return report.StreamDisk{}, fmt.Errorf("stream on disk (%s): %w", compression, err)
	}
	if err := stop(ingest); err != nil {
		return report.StreamDisk{}, err
	}
	dir := filepath.Join(r.broker.StoreDir, "jetstream", "$G", "streams", stream)
	var bytes int64
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		bytes += info.Size()
		return nil
	})
	if err != nil {
		return report.StreamDisk{}, fmt.Errorf("stream on disk (%s): %w", compression, err)
	}
	if res.EventsAccepted == 0 {
		return report.StreamDisk{}, fmt.Errorf("stream on disk (%s): nothing accepted (statuses %v)", compression, res.Statuses)
	}
	r.logf("  stream (%s): %d events in %d bytes on disk", compression, res.EventsAccepted, bytes)
	return report.StreamDisk{Compression: compression, Events: res.EventsAccepted, Bytes: bytes}, r.deleteStream(ctx, stream)
}

// debugEnv is the environment that opens a service's pprof listener on a
// free loopback port when the run keeps CPU profiles; nil otherwise.
func (r *runner) debugEnv() (map[string]string, error) {
	if !r.cfg.CostProfile {
		return nil, nil
	}
	addr, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	return map[string]string{"DEBUG_ADDR": addr}, nil
}

// cpuProfiles starts a CPU profile of d on each service, named, at its
// pprof listener's address (empty where the run keeps no profiles: see
// debugEnv) and returns the function that waits for them and keeps each as
// <name>.cpu.pprof in the results folder.
func (r *runner) cpuProfiles(ctx context.Context, d time.Duration, pprofAddrs map[string]string) (wait func() error) {
	errs := make(chan error, len(pprofAddrs))
	n := 0
	for name, addr := range pprofAddrs {
		if addr == "" {
			continue
		}
		n++
		go func() {
			errs <- r.cpuProfile(ctx, name, addr, d)
		}()
	}
	return func() error {
		var all []error
		for range n {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}
}

// cpuProfile fetches a CPU profile of d from the pprof listener at addr.
func (r *runner) cpuProfile(ctx context.Context, name, addr string, d time.Duration) error {
	secs := max(int(d.Seconds()), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile of %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile of %s: status %d: %w", name, resp.StatusCode, err)
	}
	path := filepath.Join(r.out, name+".cpu.pprof")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("cpu profile of %s: %w", name, err)
	}
	r.logf("  CPU profile of %s over %d s: %s", name, secs, path)
	return nil
}
