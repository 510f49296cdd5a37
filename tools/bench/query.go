package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/evtrack/telemetry/opensearch/templates"
	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/loadgen"
	"github.com/evtrack/telemetry/tools/querygen"
)

// queryPart reads a user's first page from a large data set: the ceiling
// closed loop, then open loop at a fraction of it — idle, and while ingest +
// enrich write into the same users' histories (today's index, deleted
// afterwards so that the data set stays the same from run to run). In each
// phase the same load follows straight to OpenSearch — the very search the
// service sends for those first pages — so that the service's overhead is a
// ratio of two latencies measured under the same conditions.
func (r *runner) queryPart(ctx context.Context) (_ *report.Query, err error) {
	if err := r.startOpenSearch(ctx); err != nil {
		return nil, err
	}
	if err := r.freshBroker(ctx); err != nil {
		return nil, err
	}
	out := &report.Query{Events: r.cfg.QueryEvents, Users: r.cfg.QueryUsers, Days: r.cfg.QueryDays, Concurrency: r.cfg.QueryConcurrency,
		CeilingDuration: r.cfg.QueryCeilingDuration, Duration: r.cfg.QueryDuration}
	// The data set is kept between runs, keyed by its shape and by the
	// events template's version (a set written as documents were before is
	// not measured as if it were today's).
	version, err := templates.EventsVersion()
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("benchq-v%d-%d-%d-%d", version, r.cfg.QueryEvents, r.cfg.QueryUsers, r.cfg.QueryDays)
	// Today's index holds only what a run writes while it measures.
	today := time.Now()
	dropToday := func(ctx context.Context) error {
		var errs []error
		for _, day := range []time.Time{today, time.Now()} { // the day may have turned meanwhile
			errs = append(errs, r.osJSON(ctx, http.MethodDelete, "/"+dayIndex(prefix, day)+"?ignore_unavailable=true", nil))
		}
		return errors.Join(errs...)
	}
	if err := dropToday(ctx); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, dropToday(context.WithoutCancel(ctx))) }()
	if out.Reused, err = r.queryDataSet(ctx, prefix); err != nil {
		return nil, err
	}

	query, err := r.startQuery(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if err := r.waitNoMerges(ctx, "the query ceiling"); err != nil {
		return nil, err
	}
	if out.Ceiling, err = warmCeiling(r.cfg.Warmups, r.cfg.Rounds, func(i int, measured bool) (float64, error) {
		name := fmt.Sprintf("query-max-%d", i)
		if !measured {
			name = fmt.Sprintf("query-max-warmup-%d", i)
		}
		res, err := r.queries(ctx, name, r.serviceQueries(query), 0, r.cfg.QueryCeilingDuration)
		return res.EventsPerSec, err
	}); err != nil {
		return nil, err
	}
	points, err := stats.LoadPoints(out.Ceiling.Median, 1, r.cfg.QueryFraction)
	if err != nil {
		return nil, err
	}
	out.Point = points[0]

	if err := r.waitNoMerges(ctx, "the idle queries"); err != nil {
		return nil, err
	}
	profile := r.cpuProfiles(ctx, r.cfg.QueryDuration, map[string]string{"query-idle": query.DebugAddr})
	if out.Idle, err = r.queries(ctx, "query-idle", r.serviceQueries(query), out.Point.Rate, r.cfg.QueryDuration); err != nil {
		return nil, err
	}
	if err := profile(); err != nil {
		return nil, err
	}
	if err := r.waitNoMerges(ctx, "the idle overhead"); err != nil {
		return nil, err
	}
	if out.OverheadIdle, err = r.compare(ctx, "query-overhead-idle", r.serviceQueries(query), r.rawQueries(prefix), out.Point.Rate, r.cfg.QueryDuration); err != nil {
		return nil, err
	}

	// The writes while busy are a fraction of OpenSearch's warm raw _bulk
	// ceiling, as the time-to-searchable load is; enrich's drain rate is
	// reported beside them (writes above it would grow a backlog).
	bulk, _, err := r.bulkCeiling(ctx)
	if err != nil {
		return nil, err
	}
	out.BulkCeiling = bulk.Median
	if out.DrainCeiling, err = r.drainCeiling(ctx); err != nil {
		return nil, err
	}
	writeFraction := r.cfg.QueryWriteFraction
	if r.cfg.QueryWriteRate > 0 {
		writeFraction = r.cfg.QueryWriteRate / out.BulkCeiling
	}
	writePoints, err := stats.LoadPoints(out.BulkCeiling, r.cfg.Batch, writeFraction)
	if err != nil {
		return nil, err
	}
	out.WritePoint = writePoints[0]
	if out.Busy, out.OverheadBusy, out.Writes, err = r.busyQueries(ctx, query, prefix, out.Point, out.WritePoint); err != nil {
		return nil, err
	}
	if err := query.Stop(); err != nil {
		return nil, err
	}
	return out, nil
}

// queryDataSet makes sure the indices of prefix hold the data set:
// QueryEvents events of QueryUsers users over the QueryDays days before
// today, written through the real template (enrichbench -mode load), then
// the past days merged as enrich's maintenance merges them. A data set of
// the same shape from an earlier run is reused.
func (r *runner) queryDataSet(ctx context.Context, prefix string) (reused bool, err error) {
	have, err := r.count(ctx, prefix)
	if err != nil {
		return false, err
	}
	if have == int64(r.cfg.QueryEvents) {
		r.logf("query: reusing %d events in %s-*", have, prefix)
		reused = true
	} else {
		r.logf("query: loading %d events of %d users over %d days into %s-* (once; later runs reuse it)", r.cfg.QueryEvents, r.cfg.QueryUsers, r.cfg.QueryDays, prefix)
		// Any other kept data set (another shape or version) goes: the
		// node's disk holds one.
		if err := r.deletePrefix(ctx, "benchq"); err != nil {
			return false, err
		}
		var res struct {
			Documents int `json:"documents"`
			Failures  int `json:"failures"`
		}
		if err := r.enrichbench(ctx, "query-load", &res, "-mode", "load", "-events", fmt.Sprint(r.cfg.QueryEvents), "-users", fmt.Sprint(r.cfg.QueryUsers),
			"-days", fmt.Sprint(r.cfg.QueryDays), "-opensearch", r.openSearch.URL, "-prefix", prefix, "-bulk-docs", "5000", "-in-flight", "2"); err != nil {
			return false, err
		}
		if res.Failures > 0 {
			return false, fmt.Errorf("query data set: %d kinds of bulk failure; see query-load.log", res.Failures)
		}
		if err := r.osJSON(ctx, http.MethodPost, "/"+prefix+"-*/_refresh", nil); err != nil {
			return false, err
		}
		if have, err = r.count(ctx, prefix); err != nil {
			return false, err
		}
		if have != int64(r.cfg.QueryEvents) {
			return false, fmt.Errorf("query data set: %d documents in %s-* after loading %d", have, prefix, r.cfg.QueryEvents)
		}
	}
	r.logf("query: merging past days' indices into one segment each (enrich's compaction)")
	var compact struct{}
	return reused, r.enrichbench(ctx, "query-compact", &compact, "-mode", "compact", "-opensearch", r.openSearch.URL, "-prefix", prefix)
}

// serviceQueries is a user's first page asked of the query service.
func (r *runner) serviceQueries(query *service) querygen.Config {
	return querygen.Config{Target: querygen.TargetQuery, BaseURL: query.URL, Token: readToken}
}

// rawQueries is the search the query service sends for a user's first page
// (a read token of every app, as the bench's), sent straight to OpenSearch.
// Sent in turn with the service's queries, each for a user drawn anew from
// the same population, so that neither side reads what the other just
// brought into a cache.
func (r *runner) rawQueries(prefix string) querygen.Config {
	return querygen.Config{Target: querygen.TargetOpenSearch, BaseURL: r.openSearch.URL, Prefix: prefix}
}

// queries runs querygen against target: rate queries/s open loop, or closed
// loop at 0; it keeps the result as name.json.
func (r *runner) queries(ctx context.Context, name string, target querygen.Config, rate float64, d time.Duration) (report.Load, error) {
	r.logf("%s: first pages from %s, %s, %s", name, target.Target, loopMode(rate), d)
	res, err := querygen.Run(ctx, r.queryLoad(target, rate, d))
	if err := r.queriesDone(ctx, name, err, res); err != nil {
		return report.Load{}, err
	}
	return queryLoadOf(res), nil
}

// compare sends rate queries/s open loop to the service and the same
// searches straight to OpenSearch, each query to one side in turn (half the
// rate each): both sides are measured at the same moments, so the ratio of
// their latencies is what the service adds, not what else the machine did
// while one of them ran. It keeps both results as name.json.
func (r *runner) compare(ctx context.Context, name string, service, raw querygen.Config, rate float64, d time.Duration) (report.Overhead, error) {
	r.logf("%s: first pages from %s and %s in turn, %s, %s", name, service.Target, raw.Target, loopMode(rate), d)
	svc, store, err := querygen.Compare(ctx, r.queryLoad(service, rate, d), raw)
	if err := r.queriesDone(ctx, name, err, svc, store); err != nil {
		return report.Overhead{}, err
	}
	return report.Overhead{Service: queryLoadOf(svc), Raw: queryLoadOf(store)}, nil
}

// queryLoad is target with the bench's query load.
func (r *runner) queryLoad(target querygen.Config, rate float64, d time.Duration) querygen.Config {
	cfg := target
	cfg.Users, cfg.Query, cfg.Rate, cfg.Concurrency, cfg.Duration, cfg.Warmup, cfg.Timeout = r.cfg.QueryUsers, "events", rate, r.cfg.QueryConcurrency, d, r.cfg.Warmup, 10*time.Second
	return cfg
}

// queriesDone checks a querygen run's outcome and keeps its results.
func (r *runner) queriesDone(ctx context.Context, name string, err error, results ...querygen.Result) error {
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if len(results) == 1 {
		err = r.writeJSON(name, results[0])
	} else {
		err = r.writeJSON(name, results)
	}
	if err != nil {
		return err
	}
	for _, res := range results {
		r.logf("  %s: %.0f queries/s, p50 %.2f ms, p99 %.2f ms, statuses %v, transport errors %d, empty %d",
			res.Target, res.RequestsPerSec, res.LatencyMs.P50, res.LatencyMs.P99, res.Statuses, res.TransportErrs, res.EmptyResults)
		if res.Statuses["200"] == 0 {
			return fmt.Errorf("%s: no query to %s answered 200 (statuses %v, transport errors %d); see query.log and opensearch.log", name, res.Target, res.Statuses, res.TransportErrs)
		}
	}
	return nil
}

func queryLoadOf(res querygen.Result) report.Load {
	return report.Load{EventsPerSec: res.RequestsPerSec, Seconds: res.Seconds, Latency: res.LatencyMs, Statuses: res.Statuses, Transport: res.TransportErrs}
}

func loopMode(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("open loop at %.0f queries/s", rate)
	}
	return "closed loop"
}

// busyQueries measures the queries while ingest + enrich write at write
// into today's index of the data set, for the users it holds.
func (r *runner) busyQueries(ctx context.Context, query *service, prefix string, pt, write stats.LoadPoint) (busy report.Load, overhead report.Overhead, writes report.Load, err error) {
	const stream = "BENCH_Q"
	ingest, err := r.startIngest(ctx, "ingest-q", stream, nil)
	if err != nil {
		return busy, overhead, writes, err
	}
	enrich, err := r.startEnrich(ctx, "enrich-q", stream, prefix)
	if err != nil {
		return busy, overhead, writes, err
	}
	// The writes run until the queries are done.
	cfg := r.loadConfig(ingest, 16, write.Rate, 24*time.Hour)
	cfg.Traffic.Users = r.cfg.QueryUsers
	loadCtx, stopLoad := context.WithCancel(ctx)
	type result struct {
		res loadgen.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := loadgen.Run(loadCtx, cfg, newIDs())
		done <- result{res, err}
	}()
	finish := func() result { stopLoad(); return <-done } // the load's owner waits for it on every path
	r.logf("query-busy: ingest + enrich writing %.0f events/s; waiting until enrich indexes", write.Units)
	if err := r.waitIndexing(ctx, enrich); err != nil {
		finish()
		return busy, overhead, writes, err
	}
	busy, err = r.queries(ctx, "query-busy", r.serviceQueries(query), pt.Rate, r.cfg.QueryDuration)
	if err == nil {
		overhead, err = r.compare(ctx, "query-overhead-busy", r.serviceQueries(query), r.rawQueries(prefix), pt.Rate, r.cfg.QueryDuration)
	}
	w := finish()
	if err = errors.Join(err, w.err); err != nil {
		return busy, overhead, writes, err
	}
	if err := r.writeJSON("query-writes", loadgen.Report{Result: w.res}); err != nil {
		return busy, overhead, writes, err
	}
	if err := stop(ingest, enrich); err != nil {
		return busy, overhead, writes, err
	}
	return busy, overhead, loadOf(w.res, 0), nil
}

// waitIndexing waits until enrich has written documents, so that the
// queries measured next share OpenSearch with the writes.
func (r *runner) waitIndexing(ctx context.Context, enrich *service) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(readyWithin)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		fams, err := promscrape.Scrape(ctx, client, enrich.URL+"/metrics")
		if err == nil {
			if n, _ := fams.Sum("enrich_documents_total", promscrape.Labels{"outcome": "created"}); n > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enrich indexed nothing within %s of the writes' start (last scrape error: %v); see enrich-q.log", readyWithin, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
