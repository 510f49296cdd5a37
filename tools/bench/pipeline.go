package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// Raw _bulk requests of the ceiling: documents a request, requests in flight.
const (
	bulkDocs   = 5000
	bulkFlight = 2
)

func (r *runner) pipelinePart(ctx context.Context) (_ *report.Pipeline, err error) {
	if err := r.startOpenSearch(ctx); err != nil {
		return nil, err
	}
	if err := r.freshBroker(ctx); err != nil {
		return nil, err
	}
	p := fmt.Sprintf("bench-%d", time.Now().Unix())
	var prefixes []string // what this part wrote, deleted when it ends
	defer func() {
		for _, prefix := range prefixes {
			err = errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix))
		}
	}()
	out := &report.Pipeline{Events: r.cfg.EnrichEvents, BulkDocs: bulkDocs, BulkFlight: bulkFlight, LagStep: r.cfg.LagStep, LagSample: r.cfg.LagSample}

	if out.Bulk, out.DocBytes, err = r.bulkCeiling(ctx); err != nil {
		return nil, err
	}

	prefixes = append(prefixes, p+"-e")
	if out.Drain, out.DrainCPU, out.DrainRSSMiB, err = r.measureDrain(ctx, p+"-e"); err != nil {
		return nil, err
	}
	// What the drained events take on disk, merged as past days are: the
	// bytes per event a deployment's storage is sized from.
	if out.StoredDocs, out.StoredBytes, err = r.storeSize(ctx, p+"-e"); err != nil {
		return nil, err
	}
	r.logf("  on disk: %d documents in %d bytes after merging (%.0f bytes per event)", out.StoredDocs, out.StoredBytes, float64(out.StoredBytes)/float64(out.StoredDocs))

	if r.bins[baseEnrich] != "" {
		// The baseline drains the same events into indices of its own, right
		// after this checkout's enrich: one round each, the same conditions.
		prefixes = append(prefixes, p+"-b")
		if out.BaselineDrain, _, _, err = r.drainWith(ctx, baseEnrich, p+"-b"); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}

	prefixes = append(prefixes, p+"-s")
	const stream = "BENCH_E2E"
	ingest, err := r.startIngest(ctx, "ingest-e2e", stream, nil)
	if err != nil {
		return nil, err
	}
	enrich, err := r.startEnrich(ctx, "enrich-e2e", stream, p+"-s")
	if err != nil {
		return nil, err
	}
	points, err := stats.LoadPoints(out.Drain, r.cfg.Batch, r.cfg.LagFractions...)
	if err != nil {
		return nil, fmt.Errorf("sustained rates: %w", err)
	}
	for _, pt := range points {
		step, err := r.lagStep(ctx, ingest, enrich, stream, pt)
		if err != nil {
			return nil, err
		}
		out.Lag = append(out.Lag, step)
	}
	// The time-to-searchable goal is stated against OpenSearch's own
	// ceiling: a fraction of the warm raw _bulk rate. It is measured from
	// the state it names — a drained stream (each lag step waits for it), an
	// OpenSearch with no merge running, indices of its own — not in the wake
	// of the lag steps' million documents still being merged.
	e2ePoints, err := stats.LoadPoints(out.Bulk.Median, r.cfg.Batch, r.cfg.E2EFraction)
	if err != nil {
		return nil, fmt.Errorf("time to searchable: %w", err)
	}
	if err := stop(enrich); err != nil {
		return nil, err
	}
	prefixes = append(prefixes, p+"-e")
	if enrich, err = r.startEnrich(ctx, "enrich-e2e-searchable", stream, p+"-e"); err != nil {
		return nil, err
	}
	if err := r.waitNoMerges(ctx, "the time-to-searchable run"); err != nil {
		return nil, err
	}
	if out.E2E, err = r.endToEnd(ctx, ingest, enrich, p+"-e", e2ePoints[0]); err != nil {
		return nil, err
	}
	if err := stop(ingest, enrich); err != nil {
		return nil, err
	}
	return out, nil
}

// bulkCeiling is OpenSearch's warm raw _bulk ceiling of the documents enrich
// writes, and their size, measured once a run (into indices deleted after
// each round): warm-up rounds discarded until the node is warm (warmCeiling),
// then cfg.Rounds rounds, over which OpenSearch's own CPU is kept
// (r.bulkCost): what the store spends on an event with nothing beside it.
func (r *runner) bulkCeiling(ctx context.Context) (_ stats.Summary, docBytes int, err error) {
	if r.bulk != nil {
		return *r.bulk, r.bulkDocBytes, nil
	}
	if err := r.startOpenSearch(ctx); err != nil {
		return stats.Summary{}, 0, err
	}
	p := fmt.Sprintf("bench-%d", time.Now().Unix())
	var alone report.Alone
	round := func(name, prefix string, measured bool) (float64, error) {
		if err := r.waitNoMerges(ctx, name); err != nil {
			return 0, err
		}
		r.logf("%s: raw _bulk of %d documents from a file", name, r.cfg.EnrichEvents)
		var res struct {
			Documents   int     `json:"documents"`
			DocsPerSec  float64 `json:"docs_per_sec"`
			FileBytes   int     `json:"file_bytes"`
			FailedBulks int     `json:"failed_bulks"`
		}
		start := time.Now()
		cpu0, err := r.openSearch.CPUTime()
		if err != nil {
			return 0, fmt.Errorf("%s: CPU time of OpenSearch: %w", name, err)
		}
		err = r.enrichbench(ctx, name, &res, "-mode", "bulk", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-opensearch", r.openSearch.URL,
			"-prefix", prefix, "-file", filepath.Join(r.out, "bulk.ndjson"), "-bulk-docs", fmt.Sprint(bulkDocs), "-in-flight", fmt.Sprint(bulkFlight))
		cpu1, cpuErr := r.openSearch.CPUTime()
		elapsed := time.Since(start)
		// The next round writes into fresh indices.
		if err := errors.Join(err, cpuErr, r.deletePrefix(context.WithoutCancel(ctx), prefix)); err != nil {
			return 0, err
		}
		if res.FailedBulks > 0 || res.Documents == 0 || res.DocsPerSec <= 0 {
			return 0, fmt.Errorf("%s: %d of its _bulk requests failed (%d documents); see %s.json", name, res.FailedBulks, res.Documents, name)
		}
		r.logf("  %.0f documents/s", res.DocsPerSec)
		docBytes = res.FileBytes / res.Documents
		if measured {
			alone.CPUSeconds += (cpu1 - cpu0).Seconds()
			alone.Documents += int64(res.Documents)
			alone.Duration += elapsed // the same span as the CPU time
		}
		return res.DocsPerSec, nil
	}
	s, err := warmCeiling(r.cfg.Warmups, r.cfg.Rounds, func(i int, measured bool) (float64, error) {
		if !measured {
			return round(fmt.Sprintf("bulk-warmup-%d", i), fmt.Sprintf("%s-w%d", p, i), false)
		}
		return round(fmt.Sprintf("bulk-%d", i), fmt.Sprintf("%s-c%d", p, i), true)
	})
	if err != nil {
		return stats.Summary{}, 0, err
	}
	r.bulk, r.bulkDocBytes, r.bulkCost = &s, docBytes, alone
	return s, docBytes, nil
}

// measureDrain pre-fills a stream with cfg.EnrichEvents events, starts
// enrich on it and measures how fast it drains it into the indices of
// prefix (enrichbench -mode drain), with the CPU and peak memory enrich used.
func (r *runner) measureDrain(ctx context.Context, prefix string) (rate, cores float64, peakMiB int64, err error) {
	if rate, cores, peakMiB, err = r.drainWith(ctx, "enrich", prefix); err == nil {
		r.drainRate = rate
	}
	return rate, cores, peakMiB, err
}

// drainWith is measureDrain with one of the built enrich binaries (this
// checkout's or the baseline's).
func (r *runner) drainWith(ctx context.Context, bin, prefix string) (rate, cores float64, peakMiB int64, err error) {
	const stream = "BENCH_ENRICH"
	if err := r.waitNoMerges(ctx, "the drain"); err != nil {
		return 0, 0, 0, err
	}
	r.logf("drain: filling a stream with %d events", r.cfg.EnrichEvents)
	var fill struct{}
	if err := r.enrichbench(ctx, "fill", &fill, "-mode", "fill", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-batch", fmt.Sprint(r.cfg.Batch),
		"-nats", r.broker.URL, "-stream", stream, "-subject", subject(stream)); err != nil {
		return 0, 0, 0, err
	}
	// The clock starts when enrich's consumer appears, so the drain tool
	// runs first and enrich starts after it.
	r.logf("drain: enrich draining them")
	drain, err := r.startEnrichbench("drain", "-mode", "drain", "-events", fmt.Sprint(r.cfg.EnrichEvents), "-nats", r.broker.URL, "-stream", stream)
	if err != nil {
		return 0, 0, 0, err
	}
	enrich, err := r.startEnrichBin(ctx, bin, bin+"-drain", stream, prefix, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	var res struct {
		DocsPerSec float64 `json:"docs_per_sec"`
		Seconds    float64 `json:"seconds"`
	}
	if err := drain.finish(ctx, &res); err != nil {
		return 0, 0, 0, err
	}
	cpu, _ := enrich.CPUTime() // since it started: its start-up is a small part of it
	cores = cpu.Seconds() / res.Seconds
	mem, _ := enrich.Memory()
	if err := enrich.Stop(); err != nil {
		return 0, 0, 0, err
	}
	if err := r.deleteStream(ctx, stream); err != nil {
		return 0, 0, 0, err
	}
	r.logf("  %s: %.0f documents/s on %.2f cores, peak RSS %d MiB", bin, res.DocsPerSec, cores, mem.Peak>>20)
	return res.DocsPerSec, cores, mem.Peak >> 20, nil
}

// drainCeiling is enrich's drain rate of this run, measured (into indices
// deleted afterwards) if no part has yet.
func (r *runner) drainCeiling(ctx context.Context) (float64, error) {
	if r.drainRate > 0 {
		return r.drainRate, nil
	}
	r.logf("measuring enrich's drain rate, which the load of this part is a fraction of")
	prefix := fmt.Sprintf("benchdrain-%d", time.Now().Unix())
	rate, _, _, err := r.measureDrain(ctx, prefix)
	return rate, errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix))
}

// lagStep feeds ingest + enrich at pt for LagStep and samples enrich's lag
// gauge after LagSample and at the end; then it waits for the backlog to
// drain before the next step.
func (r *runner) lagStep(ctx context.Context, ingest, enrich *service, stream string, pt stats.LoadPoint) (report.LagStep, error) {
	name := fmt.Sprintf("lag-%.0f", pt.Fraction*100)
	cfg := r.loadConfig(ingest, r.cfg.Concurrency, pt.Rate, r.cfg.LagStep)
	cfg.Warmup = 0
	type result struct{ err error }
	done := make(chan result, 1)
	go func() {
		_, _, err := r.load(ctx, name, ingest, cfg)
		done <- result{err}
	}()
	sample := time.NewTimer(r.cfg.LagSample)
	defer sample.Stop()
	var before float64
	var sampleErr error
	select {
	case <-sample.C:
		before, sampleErr = r.pending(ctx, enrich)
	case <-ctx.Done():
		sampleErr = ctx.Err()
	}
	res := <-done // the load's owner waits for it on every path
	if err := errors.Join(sampleErr, res.err); err != nil {
		return report.LagStep{}, err
	}
	after, err := r.pending(ctx, enrich)
	if err != nil {
		return report.LagStep{}, err
	}
	growing := stats.Growing(before, after, pt.Rate*(r.cfg.LagStep-r.cfg.LagSample).Seconds())
	r.logf("  %.0f events/s: pending %.0f → %.0f messages", pt.Units, before, after)
	if err := r.waitDrained(ctx, stream); err != nil {
		return report.LagStep{}, fmt.Errorf("after %s: %w", name, err)
	}
	return report.LagStep{Point: pt, Before: before, After: after, Growing: growing}, nil
}

// pending is enrich's lag gauge: messages in the stream not yet delivered.
func (r *runner) pending(ctx context.Context, enrich *service) (float64, error) {
	pending, _, err := r.consumerLag(ctx, enrich)
	return pending, err
}

// consumerLag reads enrich's consumer gauges from one scrape of its
// /metrics (enrich refreshes them every few seconds): the messages in the
// stream not yet delivered, and those delivered but not yet acked.
func (r *runner) consumerLag(ctx context.Context, enrich *service) (pending, ackPending float64, err error) {
	fams, err := promscrape.Scrape(ctx, &http.Client{Timeout: 5 * time.Second}, enrich.URL+"/metrics")
	if err != nil {
		return 0, 0, err
	}
	for name, dst := range map[string]*float64{"enrich_consumer_pending_messages": &pending, "enrich_consumer_ack_pending_messages": &ackPending} {
		v, ok := fams.Sum(name, nil)
		if !ok {
			return 0, 0, fmt.Errorf("enrich reports no %s at %s/metrics", name, enrich.URL)
		}
		*dst = v
	}
	return pending, ackPending, nil
}

// endToEnd sends a steady load through ingest and watches OpenSearch for
// every accepted event: time from 202 to searchable, the accounting by
// distinct ids, and what enrich's _bulk requests were like meanwhile (the
// part of the time that is not the refresh interval's).
func (r *runner) endToEnd(ctx context.Context, ingest, enrich *service, prefix string, pt stats.LoadPoint) (report.EndToEnd, error) {
	cfg := r.loadConfig(ingest, 16, pt.Rate, r.cfg.E2EDuration)
	bulksBefore, err := r.enrichBulks(ctx, enrich)
	if err != nil {
		return report.EndToEnd{}, fmt.Errorf("e2e: %w", err)
	}
	r.logf("e2e: %.0f events/s through ingest → JetStream → enrich → OpenSearch for %s", pt.Units, r.cfg.E2EDuration)
	res, e2e, err := loadgen.RunEndToEnd(ctx, cfg, newIDs(), r.openSearch.URL, prefix+"-*", r.cfg.E2EGrace)
	if err != nil {
		return report.EndToEnd{}, fmt.Errorf("e2e: %w", err)
	}
	bulksAfter, err := r.enrichBulks(ctx, enrich)
	if err != nil {
		return report.EndToEnd{}, fmt.Errorf("e2e: %w", err)
	}
	seconds, docs := bulksAfter.seconds.Since(bulksBefore.seconds), bulksAfter.docs.Since(bulksBefore.docs)
	bulks := report.EnrichBulks{Requests: seconds.Count(), P50ms: 1000 * seconds.Quantile(0.5), P99ms: 1000 * seconds.Quantile(0.99),
		DocsP50: docs.Quantile(0.5), DocsP99: docs.Quantile(0.99)}
	r.logf("  enrich: %.0f _bulk requests, p50 %.0f ms, p99 %.0f ms, %.0f documents at the median", bulks.Requests, bulks.P50ms, bulks.P99ms, bulks.DocsP50)
	if err := r.writeJSON("e2e", loadgen.Report{Result: res, EndToEnd: &e2e}); err != nil {
		return report.EndToEnd{}, err
	}
	t := e2e.TimeToSearchable
	r.logf("  time to searchable p50 %.0f ms, p99 %.0f ms; %s", t.P50, t.P99, e2e.Accounting)
	if res.EventsAccepted == 0 {
		return report.EndToEnd{}, fmt.Errorf("e2e: nothing accepted (statuses %v)", res.Statuses)
	}
	return report.EndToEnd{Point: pt, Load: loadOf(res, 0), TimeToSearchable: t, Batches: e2e.Batches, NeverSeen: e2e.NeverSeen,
		Accepted: e2e.AcceptedEvents, Indexed: e2e.IndexedEvents, Lost: e2e.Lost, Duplicated: e2e.Duplicated, Unaccepted: e2e.Unaccepted,
		Bulks: bulks}, nil
}

// bulkHistograms are enrich's _bulk duration and size histograms at one
// moment.
type bulkHistograms struct{ seconds, docs promscrape.Histogram }

// enrichBulks reads them; before enrich's first _bulk they are not
// exported yet (read as empty).
func (r *runner) enrichBulks(ctx context.Context, enrich *service) (bulkHistograms, error) {
	fams, err := promscrape.Scrape(ctx, &http.Client{Timeout: 5 * time.Second}, enrich.URL+"/metrics")
	if err != nil {
		return bulkHistograms{}, err
	}
	var h bulkHistograms
	h.seconds, _ = fams.Histogram("enrich_bulk_duration_seconds", nil)
	h.docs, _ = fams.Histogram("enrich_bulk_documents", nil)
	return h, nil
}
