package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/loadgen"
)

// segmentFormats are the two bodies the segment part sends: the same
// events as /v1/track's JSON and as a Segment batch to /v1/batch.
var segmentFormats = []struct{ name, tag, format, path string }{
	{"/v1/track", "track", loadgen.FormatTrack, "/v1/track"},
	{"/v1/batch", "batch", loadgen.FormatSegment, "/v1/batch"},
}

// segmentPart measures what mapping the Segment format costs: the same
// events (the same draws, rendered in each format) sent to one ingest as
// /v1/track bodies and as /v1/batch bodies, closed loop, both in every
// round on the same fresh broker (a warm-up round discarded), then open
// loop at a fraction of /v1/track's median for each format, from an empty
// broker each time.
func (r *runner) segmentPart(ctx context.Context) (out *report.Segment, err error) {
	out = &report.Segment{BatchSize: r.cfg.Batch, Concurrency: r.cfg.Concurrency, Duration: r.cfg.Duration, OpenConcurrency: r.cfg.OpenConcurrency}
	var ingest *service
	defer func() {
		if stopErr := stop(ingest); err == nil {
			err = stopErr
		}
	}()
	fresh := func(tag string) error {
		if err := stop(ingest); err != nil {
			return err
		}
		ingest = nil
		if err := r.freshBroker(ctx); err != nil {
			return err
		}
		ingest, err = r.startIngest(ctx, "ingest-segment-"+tag, ingestStream, map[string]string{"EVENTS_STREAM_MAX_BYTES": ingestMaxBytes})
		return err
	}
	rates := make([][]float64, len(segmentFormats))
	for round := 0; round <= r.cfg.Rounds; round++ {
		tag := fmt.Sprint(round)
		if round == 0 {
			tag = "warmup"
		}
		if err := fresh(tag); err != nil {
			return nil, err
		}
		for i, f := range segmentFormats {
			l, res, err := r.load(ctx, fmt.Sprintf("segment-%s-max-%s", f.tag, tag), ingest,
				r.formatLoadConfig(ingest, f.format, f.path, r.cfg.Concurrency, 0, r.cfg.Duration))
			if err != nil {
				return nil, err
			}
			if round == 0 {
				continue
			}
			rates[i] = append(rates[i], l.EventsPerSec)
			out.Rounds = append(out.Rounds, report.DoorRound{Door: f.name, Round: round, Load: l})
			if i == 0 {
				out.TrackBodyBytes = res.BodyBytes
			} else {
				out.BatchBodyBytes = res.BodyBytes
			}
		}
	}
	if out.Track, err = stats.Summarize(rates[0]); err != nil {
		return nil, err
	}
	if out.Batch, err = stats.Summarize(rates[1]); err != nil {
		return nil, err
	}
	// Each round's ratio pairs two loads minutes apart at most: on a
	// machine whose load drifts, their median is steadier than the ratio
	// of the two medians.
	ratios := make([]float64, len(rates[0]))
	for i := range ratios {
		ratios[i] = rates[1][i] / rates[0][i]
	}
	if out.RoundRatios, err = stats.Summarize(ratios); err != nil {
		return nil, err
	}
	points, err := stats.LoadPoints(out.Track.Median, r.cfg.Batch, r.cfg.SegmentFraction)
	if err != nil {
		return nil, fmt.Errorf("segment open loop: %w", err)
	}
	out.Point = points[0]
	for _, f := range segmentFormats {
		if err := fresh("open-" + f.tag); err != nil {
			return nil, err
		}
		l, _, err := r.load(ctx, fmt.Sprintf("segment-%s-open", f.tag), ingest,
			r.formatLoadConfig(ingest, f.format, f.path, r.cfg.OpenConcurrency, out.Point.Rate, r.cfg.Duration))
		if err != nil {
			return nil, err
		}
		out.Open = append(out.Open, report.OpenPoint{Target: f.name, Point: out.Point, Load: l})
	}
	return out, nil
}

// formatLoadConfig is loadConfig for bodies in format posted to path.
func (r *runner) formatLoadConfig(target *service, format, path string, conc int, rate float64, d time.Duration) loadgen.Config {
	cfg := r.loadConfig(target, conc, rate, d)
	cfg.URL = target.URL + path
	cfg.Traffic.Format = format
	return cfg
}
