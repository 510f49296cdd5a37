package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

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
		l, _, err := r.load(ctx, "stream-"+v.tag, ingest, r.loadConfig(ingest, r.cfg.OpenConcurrency, out.Point.Rate, v.d))
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", v.name, err)
		}
		if err := ingest.Stop(); err != nil {
			return nil, err
		}
		out.Runs = append(out.Runs, report.StreamRun{Name: v.name, Load: l})
	}
	return out, nil
}
