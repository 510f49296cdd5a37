package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/latencyplot"
)

// ingestStream is the stream ingest writes in the ingest part: capped at
// 6 GiB, more than a maximum round writes, so that no round meets the cap.
const (
	ingestStream   = "BENCH"
	ingestMaxBytes = "6442450944"
)

// doors are the front doors on the current broker: naive, ingest, and the
// baseline's ingest when BENCH_BASELINE is set.
type doors struct{ naive, ingest, base *service }

// startDoors starts ingest, and the naive door too if withNaive.
func (r *runner) startDoors(ctx context.Context, withNaive bool) (doors, error) {
	var naive *service
	if withNaive {
		var err error
		if naive, err = r.startNaive(ctx); err != nil {
			return doors{}, err
		}
	}
	ingest, err := r.startIngest(ctx, "ingest", ingestStream, map[string]string{"EVENTS_STREAM_MAX_BYTES": ingestMaxBytes})
	if err != nil {
		return doors{}, err
	}
	var base *service
	if r.bins[baseIngest] != "" {
		if base, err = r.startIngestBin(ctx, baseIngest, "ingest-baseline", "BASELINE",
			map[string]string{"EVENTS_STREAM_MAX_BYTES": ingestMaxBytes}); err != nil {
			return doors{}, err
		}
	}
	return doors{naive, ingest, base}, nil
}

// freshDoors stops the doors, empties the broker and starts them again.
func (r *runner) freshDoors(ctx context.Context, d doors, withNaive bool) (doors, error) {
	if err := stop(d.naive, d.ingest, d.base); err != nil {
		return doors{}, err
	}
	if err := r.freshBroker(ctx); err != nil {
		return doors{}, err
	}
	return r.startDoors(ctx, withNaive)
}

// maxRounds measures the front doors' maximum, closed loop: a warm-up round
// that is discarded, then cfg.Rounds rounds. Each round starts on an empty
// broker and runs the doors one after the other, so machine noise hits
// both (with a baseline, it and this ingest alternate in second place). withNaive false measures ingest alone.
func (r *runner) maxRounds(ctx context.Context, withNaive bool) (rounds []report.DoorRound, naive, ingest stats.Summary, bodyBytes int, err error) {
	var naiveRates, ingestRates, baseRates []float64
	var d doors
	defer func() {
		if stopErr := stop(d.naive, d.ingest, d.base); err == nil {
			err = stopErr
		}
	}()
	for round := 0; round <= r.cfg.Rounds; round++ {
		if d, err = r.freshDoors(ctx, d, withNaive); err != nil {
			return
		}
		type door struct {
			name  string
			svc   *service
			rates *[]float64
		}
		order := []door{{"naive", d.naive, &naiveRates}, {"ingest", d.ingest, &ingestRates}, {"ingest (baseline)", d.base, &baseRates}}
		if round%2 == 0 { // the baseline and this ingest take turns going first, so neither always meets a busier broker
			order[1], order[2] = order[2], order[1]
		}
		for _, door := range order {
			if door.svc == nil { // the naive door, when only ingest is measured; the baseline, when none is set
				continue
			}
			file := strings.ReplaceAll(strings.TrimSuffix(door.name, ")"), " (", "-")
			name := fmt.Sprintf("%s-max-%d", file, round)
			if round == 0 {
				name = file + "-max-warmup"
			}
			l, res, lerr := r.load(ctx, name, door.svc, r.loadConfig(door.svc, r.cfg.Concurrency, 0, r.cfg.Duration))
			if lerr != nil {
				err = lerr
				return
			}
			bodyBytes = res.BodyBytes
			if round == 0 {
				continue // warm-up: discarded
			}
			*door.rates = append(*door.rates, l.EventsPerSec)
			rounds = append(rounds, report.DoorRound{Door: door.name, Round: round, Load: l})
		}
	}
	if withNaive {
		if naive, err = stats.Summarize(naiveRates); err != nil {
			return
		}
	}
	if len(baseRates) > 0 && withNaive {
		var base stats.Summary
		if base, err = stats.Summarize(baseRates); err != nil {
			return
		}
		r.baseIngest = &base
	}
	ingest, err = stats.Summarize(ingestRates)
	return
}

// ingestCeiling is ingest's maximum of this run, measured if no part has
// yet.
func (r *runner) ingestCeiling(ctx context.Context) (stats.Summary, error) {
	if r.ingestMax != nil {
		return *r.ingestMax, nil
	}
	r.logf("measuring ingest's maximum, which the load of this part is a fraction of")
	_, _, ingest, _, err := r.maxRounds(ctx, false)
	if err != nil {
		return stats.Summary{}, err
	}
	r.ingestMax = &ingest
	return ingest, nil
}

func (r *runner) ingestPart(ctx context.Context) (*report.Ingest, error) {
	out := &report.Ingest{SyncInterval: r.cfg.NATSSync, BatchSize: r.cfg.Batch, Concurrency: r.cfg.Concurrency, Duration: r.cfg.Duration,
		OpenConcurrency: r.cfg.OpenConcurrency, JetStreamEvents: r.cfg.JetStreamEvents}
	var err error
	if out.Rounds, out.Naive, out.Ingest, out.BodyBytes, err = r.maxRounds(ctx, true); err != nil {
		return nil, err
	}
	r.ingestMax = &out.Ingest
	out.Baseline = r.baseIngest
	if out.JetStream, err = r.jetStreamCeiling(ctx); err != nil {
		return nil, err
	}
	var d doors
	defer func() { _ = stop(d.naive, d.ingest) }() // on an error; the group stops them anyway
	series := []latencyplot.Series{{Name: "ingest (durable)"}, {Name: "naive (not durable)"}}
	for i, target := range []struct {
		name    string
		ceiling float64
	}{{"ingest", out.Ingest.Median}, {"naive", out.Naive.Median}} {
		points, err := stats.LoadPoints(target.ceiling, r.cfg.Batch, r.cfg.IngestFractions...)
		if err != nil {
			return nil, fmt.Errorf("%s open loop: %w", target.name, err)
		}
		for _, pt := range points {
			if d, err = r.freshDoors(ctx, d, true); err != nil {
				return nil, err
			}
			svc := d.ingest
			if target.name == "naive" {
				svc = d.naive
			}
			l, _, err := r.load(ctx, fmt.Sprintf("%s-open-%.0f", target.name, pt.Fraction*100), svc,
				r.loadConfig(svc, r.cfg.OpenConcurrency, pt.Rate, r.cfg.Duration))
			if err != nil {
				return nil, err
			}
			out.Open = append(out.Open, report.OpenPoint{Target: target.name, Point: pt, Load: l})
			series[i].Points = append(series[i].Points, latencyplot.Point{EventsPerSec: l.EventsPerSec, P50: l.Latency.P50, P99: l.Latency.P99})
		}
	}
	if err := stop(d.naive, d.ingest); err != nil {
		return nil, err
	}
	d = doors{}
	const plot = "ingest-latency.png"
	if err := latencyplot.Write(filepath.Join(r.out, plot), series); err != nil {
		return nil, err
	}
	out.Plot = plot
	return out, nil
}

// jetStreamCeiling publishes the same kind of batches straight to a stream
// (enrichbench -mode fill: async, acknowledged, no HTTP) on an empty
// broker: a warm-up round discarded, then cfg.Rounds rounds, each into a
// stream of its own that is deleted after it.
func (r *runner) jetStreamCeiling(ctx context.Context) (stats.Summary, error) {
	if err := r.freshBroker(ctx); err != nil {
		return stats.Summary{}, err
	}
	var rates []float64
	for round := 0; round <= r.cfg.Rounds; round++ {
		name := fmt.Sprintf("js-ceiling-%d", round)
		if round == 0 {
			name = "js-ceiling-warmup"
		}
		stream := fmt.Sprintf("BENCH_JS_CEILING_%d", round)
		r.logf("%s: raw JetStream publish of %d events", name, r.cfg.JetStreamEvents)
		var res struct {
			Events  int     `json:"events"`
			Seconds float64 `json:"seconds"`
		}
		if err := r.enrichbench(ctx, name, &res, "-mode", "fill", "-events", fmt.Sprint(r.cfg.JetStreamEvents), "-batch", fmt.Sprint(r.cfg.Batch),
			"-nats", r.broker.URL, "-stream", stream, "-subject", subject(stream)); err != nil {
			return stats.Summary{}, err
		}
		if err := r.deleteStream(ctx, stream); err != nil {
			return stats.Summary{}, err
		}
		if res.Seconds <= 0 {
			return stats.Summary{}, fmt.Errorf("%s: no time measured: %+v", name, res)
		}
		rate := float64(res.Events) / res.Seconds
		r.logf("  %.0f events/s", rate)
		if round > 0 {
			rates = append(rates, rate)
		}
	}
	return stats.Summarize(rates)
}

// enrichbench runs services/enrich/cmd/enrichbench with args, keeps its
// JSON answer as name.json and decodes it into v.
func (r *runner) enrichbench(ctx context.Context, name string, v any, args ...string) error {
	t, err := r.startEnrichbench(name, args...)
	if err != nil {
		return err
	}
	return t.finish(ctx, v)
}

// tool is a running enrichbench.
type tool struct {
	r    *runner
	name string
	p    *procs.Proc
	out  *bytes.Buffer
}

func (r *runner) startEnrichbench(name string, args ...string) (*tool, error) {
	var out bytes.Buffer
	p, err := r.group.Start(procs.Spec{Name: "enrichbench " + args[1], Path: r.bins["enrichbench"], Args: args,
		LogPath: filepath.Join(r.out, name+".log"), Stdout: &out})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &tool{r: r, name: name, p: p, out: &out}, nil
}

// finish waits for the tool, keeps its JSON answer as name.json and
// decodes it into v.
func (t *tool) finish(ctx context.Context, v any) error {
	if err := t.p.Wait(ctx); err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	out := t.out.Bytes()
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s: enrichbench answered %.200q: %w", t.name, out, err)
	}
	var raw any
	_ = json.Unmarshal(out, &raw)
	return t.r.writeJSON(t.name, raw)
}
