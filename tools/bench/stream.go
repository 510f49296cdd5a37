package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/promscrape"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
)

// streamPart measures ingest's tail latency against the state of its
// stream, open loop at a fraction of ingest's maximum, on an empty broker
// each time: below its limits; at a 1 GiB byte cap (the stream fills, then
// refuses new batches: ingest answers 503 stream_full and drops nothing it
// acknowledged); with a 15 s MaxAge (an operator's explicit choice to
// expire batches not indexed in time).
func (r *runner) streamPart(ctx context.Context) (*report.Stream, error) {
	ceiling, err := r.ingestCeiling(ctx)
	if err != nil {
		return nil, err
	}
	points, err := stats.LoadPoints(ceiling.Median, r.cfg.Batch, r.cfg.StreamFraction)
	if err != nil {
		return nil, err
	}
	out := &report.Stream{Ceiling: ceiling, Point: points[0]}
	for _, v := range []struct {
		name, tag string
		d         time.Duration
		env       map[string]string
	}{
		{"below its limits", "below", r.cfg.StreamDuration, nil},
		{"at a 1 GiB byte cap", "cap", r.cfg.StreamCapDuration, map[string]string{"EVENTS_STREAM_MAX_BYTES": "1073741824"}},
		{"expiring by age (MaxAge 15 s)", "maxage", r.cfg.StreamCapDuration,
			map[string]string{"EVENTS_STREAM_MAX_AGE": "15s", "EVENTS_STREAM_DUPLICATE_WINDOW": "10s"}},
	} {
		if err := r.freshBroker(ctx); err != nil {
			return nil, err
		}
		ingest, err := r.startIngest(ctx, "ingest-stream-"+v.tag, "BENCH_ST_"+strings.ToUpper(v.tag), v.env)
		if err != nil {
			return nil, err
		}
		before, err := r.inside(ctx, ingest, false)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", v.name, err)
		}
		l, _, err := r.load(ctx, "stream-"+v.tag, ingest, r.loadConfig(ingest, r.cfg.OpenConcurrency, out.Point.Rate, v.d))
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", v.name, err)
		}
		after, err := r.inside(ctx, ingest, true)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", v.name, err)
		}
		if err := ingest.Stop(); err != nil {
			return nil, err
		}
		wall := after.at.Sub(before.at).Seconds()
		run := report.StreamRun{Name: v.name, Load: l,
			NATSCores: (after.nats - before.nats).Seconds() / wall, ClientCores: (after.client - before.client).Seconds() / wall}
		req, ack := after.request.Since(before.request), after.ack.Since(before.ack)
		run.IngestP99, run.AckP99 = 1000*req.Quantile(0.99), 1000*ack.Quantile(0.99)
		out.Runs = append(out.Runs, run)
	}
	return out, nil
}

// insideIngest is what ingest and the processes beside it had done at one
// moment: its request and acknowledgement histograms, and the CPU time of
// nats-server and of the bench itself (the load generator runs in it).
type insideIngest struct {
	at           time.Time
	request, ack promscrape.Histogram
	nats, client time.Duration
}

// inside reads it; before anything was observed the histograms are not
// exported yet, so only a reading after a load (observed) requires them.
func (r *runner) inside(ctx context.Context, ingest *service, observed bool) (insideIngest, error) {
	fams, err := promscrape.Scrape(ctx, &http.Client{Timeout: 5 * time.Second}, ingest.URL+"/metrics")
	if err != nil {
		return insideIngest{}, err
	}
	s := insideIngest{at: time.Now()}
	var ok1, ok2 bool
	s.request, ok1 = fams.Histogram("ingest_request_duration_seconds", nil)
	s.ack, ok2 = fams.Histogram("ingest_publish_duration_seconds", nil)
	if observed && (!ok1 || !ok2) {
		return insideIngest{}, fmt.Errorf("%s/metrics has no ingest_request_duration_seconds or ingest_publish_duration_seconds histogram", ingest.URL)
	}
	if s.nats, err = r.broker.CPUTime(); err != nil {
		return insideIngest{}, err
	}
	if s.client, err = procs.ReadCPUTime(os.Getpid()); err != nil {
		return insideIngest{}, err
	}
	return s, nil
}
