package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/loadgen"
	"github.com/evtrack/telemetry/tools/querygen"
)

// deleteToken may delete people (the bench's own, loopback only).
const deleteToken = "bench-delete-token-0123456789"

// deletePart deletes people from a data set of DeleteEvents events over
// DeleteDays daily indices while ingest writes and support-style queries
// read: first a window without deletions, then one with DeleteUser jobs run
// back to back (user-0, user-1, …). The data set is rebuilt every run: the
// deletions change it.
func (r *runner) deletePart(ctx context.Context) (_ *report.Delete, err error) {
	if err := r.startOpenSearch(ctx); err != nil {
		return nil, err
	}
	if err := r.freshBroker(ctx); err != nil {
		return nil, err
	}
	c := r.cfg
	out := &report.Delete{Events: c.DeleteEvents, Users: c.DeleteUsers, Days: c.DeleteDays, Duration: c.DeleteDuration}
	prefix := fmt.Sprintf("benchdel-%d-%d", c.DeleteEvents, c.DeleteUsers)
	if err := r.deletePrefix(ctx, prefix); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.deletePrefix(context.WithoutCancel(ctx), prefix)) }()
	r.logf("delete: loading %d events of %d users over %d days into %s-*", c.DeleteEvents, c.DeleteUsers, c.DeleteDays, prefix)
	var res struct {
		Failures int `json:"failures"`
	}
	if err := r.enrichbench(ctx, "delete-load", &res, "-mode", "load", "-events", fmt.Sprint(c.DeleteEvents), "-users", fmt.Sprint(c.DeleteUsers),
		"-days", fmt.Sprint(c.DeleteDays), "-opensearch", r.openSearch.URL, "-prefix", prefix, "-bulk-docs", "5000", "-in-flight", "2"); err != nil {
		return nil, err
	}
	if res.Failures > 0 {
		return nil, fmt.Errorf("delete data set: %d kinds of bulk failure; see delete-load.log", res.Failures)
	}
	if err := r.osJSON(ctx, http.MethodPost, "/"+prefix+"-*/_refresh", nil); err != nil {
		return nil, err
	}

	const stream = "BENCH_DEL"
	ingest, err := r.startIngest(ctx, "ingest-del", stream, nil)
	if err != nil {
		return nil, err
	}
	enrich, err := r.startEnrich(ctx, "enrich-del", stream, prefix)
	if err != nil {
		return nil, err
	}
	grpc, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	query, err := r.start(ctx, "query", "query-del", "QUERY_HTTP_ADDR", "/readyz", procs.OK, map[string]string{
		"OPENSEARCH_URL": r.openSearch.URL, "NATS_URL": r.broker.URL, "EVENTS_INDEX_PREFIX": prefix,
		"QUERY_TOKENS": readToken + ":*," + deleteToken + ":*:delete", "QUERY_PAGE_TOKEN_KEY": pageTokenKey, "QUERY_GRPC_ADDR": grpc})
	if err != nil {
		return nil, err
	}
	if err := r.waitNoMerges(ctx, "the delete part"); err != nil {
		return nil, err
	}

	window := func(name string, during func(ctx context.Context) error) (ingestLoad, queries report.Load, err error) {
		loadCfg := r.loadConfig(ingest, 16, float64(c.DeleteWriteRate)/float64(c.Batch), c.DeleteDuration)
		loadCfg.Traffic.Users = c.DeleteUsers
		type result struct {
			res loadgen.Result
			err error
		}
		loadDone := make(chan result, 1)
		go func() {
			res, err := loadgen.Run(ctx, loadCfg, newIDs())
			loadDone <- result{res, err}
		}()
		duringCtx, stopDuring := context.WithCancel(ctx)
		duringDone := make(chan error, 1)
		go func() { duringDone <- during(duringCtx) }()
		r.logf("%s: %d events/s ingested, %d queries/s, %s", name, c.DeleteWriteRate, c.DeleteQueryRate, c.DeleteDuration)
		q, qerr := querygen.Run(ctx, querygen.Config{BaseURL: query.URL, Token: readToken, Users: c.DeleteUsers, Query: "events",
			Rate: float64(c.DeleteQueryRate), Concurrency: 8, Duration: c.DeleteDuration, Warmup: c.Warmup, Timeout: 10 * time.Second})
		stopDuring()
		derr := <-duringDone
		l := <-loadDone
		if err := errors.Join(qerr, derr, l.err); err != nil {
			return ingestLoad, queries, fmt.Errorf("%s: %w", name, err)
		}
		if err := errors.Join(r.writeJSON(name+"-ingest", loadgen.Report{Result: l.res}), r.writeJSON(name+"-queries", q)); err != nil {
			return ingestLoad, queries, err
		}
		r.logf("  ingest p99 %.2f ms, query p99 %.2f ms", l.res.LatencyMs.P99, q.LatencyMs.P99)
		return loadOf(l.res, 0), report.Load{EventsPerSec: q.RequestsPerSec, Seconds: q.Seconds, Latency: q.LatencyMs, Statuses: q.Statuses,
			Transport: q.TransportErrs}, nil
	}
	// A discarded window first: the first queries on cold indices are not
	// what the comparison is about.
	if _, _, err = window("delete-warmup", func(context.Context) error { return nil }); err != nil {
		return nil, err
	}
	if out.IngestWithout, out.QueryWithout, err = window("delete-without", func(context.Context) error { return nil }); err != nil {
		return nil, err
	}
	var settles []float64
	// New jobs start while the window lasts; the job in hand when it ends
	// runs to completion (so a slow machine still measures one).
	deletions := func(window context.Context) error {
		for user := 0; window.Err() == nil && user < c.DeleteUsers; user++ {
			secs, settle, deleted, err := r.deleteUser(ctx, query.URL, "user-"+strconv.Itoa(user))
			if err != nil {
				return err
			}
			out.Jobs++
			out.Deleted += deleted
			out.JobSeconds = append(out.JobSeconds, secs)
			settles = append(settles, settle)
		}
		return nil
	}
	if out.IngestWith, out.QueryWith, err = window("delete-with", deletions); err != nil {
		return nil, err
	}
	if out.Jobs == 0 {
		return nil, errors.New("delete: no deletion completed")
	}
	sorted := slices.Sorted(slices.Values(out.JobSeconds))
	out.MedianSeconds, out.MaxSeconds = sorted[len(sorted)/2], sorted[len(sorted)-1]
	settles = slices.Sorted(slices.Values(settles))
	out.MedianSettleSeconds = settles[len(settles)/2]
	var sum float64
	for _, s := range sorted {
		sum += s
	}
	out.DocsPerSec = float64(out.Deleted) / sum
	r.logf("delete: %d jobs, %d documents, median %.2f s, max %.2f s", out.Jobs, out.Deleted, out.MedianSeconds, out.MaxSeconds)
	if err := r.writeJSON("delete", out); err != nil {
		return nil, err
	}
	return out, stop(ingest, enrich, query)
}

// deleteUser asks the query service to delete user of app "bench" and waits
// until the job is completed; it returns the time from the request to the
// completed state, the time until the job was seen past waiting for enrich,
// and the documents deleted.
func (r *runner) deleteUser(ctx context.Context, base, user string) (secs, settle float64, deleted int64, err error) {
	start := time.Now()
	var job struct {
		Job struct {
			JobID   string `json:"job_id"`
			State   string `json:"state"`
			Phase   string `json:"phase"`
			Deleted int64  `json:"deleted,string"`
		} `json:"job"`
	}
	if err := r.queryCall(ctx, http.MethodDelete, base+"/v1/users/"+user+"?app_id=bench", &job); err != nil {
		return 0, 0, 0, err
	}
	id := job.Job.JobID
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for job.Job.State != "DELETION_STATE_COMPLETED" {
		select {
		case <-ctx.Done():
			return 0, 0, 0, ctx.Err()
		case <-tick.C:
		}
		if err := r.queryCall(ctx, http.MethodGet, base+"/v1/deletions/"+id, &job); err != nil {
			return 0, 0, 0, err
		}
		if settle == 0 && job.Job.Phase != "waiting_for_enrich" {
			settle = time.Since(start).Seconds()
		}
	}
	return time.Since(start).Seconds(), settle, job.Job.Deleted, nil
}

func (r *runner) queryCall(ctx context.Context, method, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+deleteToken)
	res, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}
