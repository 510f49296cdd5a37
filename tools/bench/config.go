// Package bench measures the platform against its ceilings on this machine,
// in one run (tools/cmd/bench; `make bench` runs it through scripts/bench.sh).
//
// Part "ingest" — the front door: naive-ingest (tools/cmd/naive-ingest: JSON
// into maps, core NATS publish without ack, 202 before anything is stored)
// and the real ingest (202 only after JetStream stored the batch) under the
// same load generator and batches, on a nats-server of the bench's own with
// JetStream file storage; the raw JetStream publish ceiling of the same
// batches; then each front door open loop at fractions of its own maximum.
//
// Part "segment" — the Segment-compatible /v1/batch beside /v1/track: the
// same events rendered in both formats, closed loop on one ingest in every
// round (the ratio of their medians is what mapping the format costs),
// then each open loop at a fraction of /v1/track's maximum (p99).
//
// Part "stream" — ingest's tail latency against the state of its stream
// (below its limits, at a 1 GiB byte cap, expiring by age), open loop at a
// fraction of ingest's maximum.
//
// Part "pipeline" — enrich and the whole path, against an OpenSearch node of
// the bench's own: the raw _bulk ceiling of the documents enrich writes,
// enrich draining a pre-filled stream (and the bytes per event those
// documents take on disk once merged), ingest + enrich at fractions of that
// drain rate (does the lag stay flat?), and the time from 202 to searchable
// with an id-by-id accounting.
//
// Part "query" — support-style reads on a large index (built once and kept
// in the bench node's data directory): a user's first page, closed loop for
// the ceiling, then open loop at a fraction of it, idle (no merge running)
// and while ingest + enrich write into the same users' histories.
//
// Part "cost" — the whole pipeline at a fraction of the warm raw _bulk
// ceiling (default 0.8) for a minute: is the lag flat, the CPU seconds each
// process (ingest, nats-server, enrich, OpenSearch) spends per million
// events, the accounting by distinct ids, and the bytes an event takes on
// disk in OpenSearch once merged and in the stream, compressed and not.
// With BENCH_COST_PROFILE=1 it keeps CPU profiles of ingest, enrich and
// nats-server over the measured window (ingest-cost.cpu.pprof,
// enrich-cost.cpu.pprof, nats-cost.cpu.pprof).
//
// Part "scaling" — ingest's closed-loop maximum with 1 and 2 instances (the
// load spread over them) and enrich's drain rate with 1 and 2 instances
// sharing the consumer, each with the CPU the instances used: the events/s
// per core that sizing a deployment uses.
//
// Every ceiling is measured warm: a warm-up round run and discarded (for
// OpenSearch's, warm-up rounds until one is within ±10% of the one before),
// then repeated rounds reported as median and range (stats). Every load point is
// a fraction of a ceiling of the same run. Everything the bench starts —
// services, nats-server, OpenSearch — it stops by PID when it ends, on error
// and on Ctrl-C too.
package bench

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/tools/bench/report"
)

// Config is everything a run is shaped by. Load fills it: defaults, then
// the short (smoke) values, then the environment (Tunables).
type Config struct {
	Short bool // a smoke run: seconds a point, small data sets
	Write bool // rewrite BENCHMARKS.md and its plot from this run

	// Load generator.
	Batch           int           // events a request
	Concurrency     int           // closed-loop connections
	OpenConcurrency int           // open-loop connections
	Duration        time.Duration // measured time of a closed-loop round or an open-loop point
	Warmup          time.Duration // unmeasured time before it
	Rounds          int           // measured rounds of a ceiling (after one discarded warm-up round)
	Warmups         int           // most warm-up rounds of OpenSearch's ceilings (raw _bulk, queries): until one is within ±10% of the one before

	// Ingest.
	IngestFractions []float64 // open-loop points, of each front door's maximum
	JetStreamEvents int       // events a raw JetStream publish round
	NATSSync        string    // JetStream sync_interval ("always"); empty: the server's default
	NATSDir         string    // the folder the broker's store is made in; empty: the results folder

	// Stream.
	StreamFraction    float64       // of ingest's maximum
	StreamDuration    time.Duration // below its limits
	StreamCapDuration time.Duration // at a byte cap, expiring by age (long enough to fill or expire)

	// Segment.
	SegmentFraction float64 // the open-loop point, of /v1/track's maximum

	// Pipeline.
	EnrichEvents int
	// EnrichSettings are ENRICH_* variables given to every enrich the bench
	// starts, to measure a setting against the defaults.
	EnrichSettings map[string]string
	LagFractions   []float64 // of enrich's drain rate
	LagStep        time.Duration
	LagSample      time.Duration // when in a step the first lag sample is taken
	DrainWithin    time.Duration // for the backlog to drain after a step
	E2EFraction    float64       // of the warm raw _bulk ceiling
	E2EDuration    time.Duration
	E2EGrace       time.Duration // for stragglers to become searchable

	// Query.
	QueryEvents, QueryUsers, QueryDays int
	QueryConcurrency                   int
	QueryCeilingDuration               time.Duration
	QueryDuration                      time.Duration
	QueryFraction                      float64 // of the closed-loop query ceiling
	QueryWriteFraction                 float64 // of the warm raw _bulk ceiling, while busy
	QueryWriteRate                     float64 // events/s while busy, instead of the fraction; 0: the fraction
	MergesWithin                       time.Duration

	// Cost.
	CostFraction       float64 // of the raw _bulk rate sustained into growing indices
	CostDuration       time.Duration
	CostStreamDuration time.Duration // closed-loop fill of each stream measured on disk
	CostProfile        bool          // CPU profiles: ingest and enrich over cost's measured window, query over the idle first pages
	// Delete.
	DeleteEvents, DeleteUsers, DeleteDays int
	DeleteDuration                        time.Duration // each window: without deletions, then with
	DeleteWriteRate                       int           // events/s ingested in both windows
	DeleteQueryRate                       int           // first-page queries/s in both windows

	OpenSearchHeap string

	// Baseline is a git revision whose ingest and enrich are built and
	// measured beside this checkout's in the same run (ingest round by
	// round, enrich's drain once each); empty: none.
	Baseline string
}

// defaults are the full-length run's values.
func defaults() Config {
	return Config{
		Batch: 100, Concurrency: 32, OpenConcurrency: 64, Duration: 15 * time.Second, Warmup: 3 * time.Second, Rounds: 3, Warmups: 4,
		IngestFractions: []float64{0.25, 0.5, 0.75}, JetStreamEvents: 2000000,
		StreamFraction: 0.5, StreamDuration: 45 * time.Second, StreamCapDuration: 60 * time.Second, SegmentFraction: 0.5,
		EnrichEvents: 400000, LagFractions: []float64{0.4, 0.6, 0.8, 1}, LagStep: 20 * time.Second, LagSample: 6 * time.Second,
		DrainWithin: 90 * time.Second, E2EFraction: 0.5, E2EDuration: 30 * time.Second, E2EGrace: 30 * time.Second,
		QueryEvents: 10000000, QueryUsers: 100000, QueryDays: 30, QueryConcurrency: 16,
		QueryCeilingDuration: 10 * time.Second, QueryDuration: 30 * time.Second, QueryFraction: 0.25, QueryWriteFraction: 0.5,
		MergesWithin: 10 * time.Minute, OpenSearchHeap: "1g",
		CostFraction: 0.8, CostDuration: 60 * time.Second, CostStreamDuration: 5 * time.Second,
		DeleteEvents: 1000000, DeleteUsers: 1000, DeleteDays: 30, DeleteDuration: 30 * time.Second, DeleteWriteRate: 2000, DeleteQueryRate: 20,
	}
}

// short shrinks c to a smoke run: it proves the bench works, it measures
// nothing worth keeping.
func short(c Config) Config {
	c.Short = true
	c.Duration, c.Warmup, c.Warmups = 3*time.Second, time.Second, 1
	c.JetStreamEvents = 100000
	c.StreamDuration, c.StreamCapDuration = 4*time.Second, 4*time.Second
	c.EnrichEvents = 20000
	c.LagStep, c.LagSample, c.DrainWithin = 4*time.Second, 2*time.Second, 60*time.Second
	c.E2EDuration, c.E2EGrace = 4*time.Second, 20*time.Second
	c.QueryEvents, c.QueryUsers, c.QueryDays = 20000, 1000, 3
	c.QueryCeilingDuration, c.QueryDuration = 2*time.Second, 3*time.Second
	c.CostDuration, c.CostStreamDuration = 5*time.Second, 2*time.Second
	c.DeleteEvents, c.DeleteUsers, c.DeleteDuration = 30000, 100, 10*time.Second
	return c
}

// tunable is one environment variable the bench reads.
type tunable struct {
	name, help string
	binding
}

// binding reads a variable into its field and shows the field's value.
type binding struct {
	read func(r *config.Reader, name string)
	show func() string
}

// tunables lists the environment variables, each once, with where it goes
// in c.
func tunables(c *Config) []tunable {
	return []tunable{
		{"BENCH_DURATION", "measured time of each closed-loop round and open-loop point", duration(&c.Duration)},
		{"BENCH_ROUNDS", "measured rounds of each ceiling, after one discarded warm-up round", integer(&c.Rounds)},
		{"BENCH_WARMUPS", "most warm-up rounds of OpenSearch's ceilings (raw _bulk, queries), discarded until one is within ±10% of the one before (a JVM warms over several)", integer(&c.Warmups)},
		{"BENCH_CONCURRENCY", "closed-loop connections", integer(&c.Concurrency)},
		{"BENCH_BATCH", "events a request", integer(&c.Batch)},
		{"BENCH_INGEST_FRACTIONS", "open-loop points, fractions of each front door's maximum", fractions(&c.IngestFractions)},
		{"BENCH_NATS_SYNC", "JetStream sync_interval, e.g. always to fsync every write (unset: the server's default)", text(&c.NATSSync)},
		{"BENCH_NATS_DIR", "the folder the bench's broker keeps its store in, e.g. another disk or a tmpfs to see what the disk adds (unset: the results folder)", folder(&c.NATSDir)},
		{"BENCH_STREAM_FRACTION", "part stream: the load, a fraction of ingest's maximum", fraction(&c.StreamFraction)},
		{"BENCH_SEGMENT_FRACTION", "part segment: the open-loop load of both formats, a fraction of /v1/track's maximum", fraction(&c.SegmentFraction)},
		{"BENCH_ENRICH_EVENTS", "parts pipeline and scaling: events of the _bulk ceiling and the drain", integer(&c.EnrichEvents)},
		{"BENCH_ENRICH_SETTINGS", "every enrich the bench starts: ENRICH_* settings, e.g. ENRICH_WORKERS=2,ENRICH_FLUSH_INTERVAL=500ms (unset: enrich's defaults)", settings("ENRICH_", &c.EnrichSettings)},
		{"BENCH_LAG_FRACTIONS", "part pipeline: sustained rates, fractions of enrich's drain rate", fractions(&c.LagFractions)},
		{"BENCH_E2E_FRACTION", "part pipeline: the time-to-searchable load, a fraction of the warm raw _bulk ceiling", fraction(&c.E2EFraction)},
		{"BENCH_E2E_DURATION", "part pipeline: measured time of the time-to-searchable run", duration(&c.E2EDuration)},
		{"BENCH_QUERY_EVENTS", "part query: events in the data set", integer(&c.QueryEvents)},
		{"BENCH_QUERY_USERS", "part query: users in the data set", integer(&c.QueryUsers)},
		{"BENCH_QUERY_FRACTION", "part query: the open-loop query rate, a fraction of the query ceiling", fraction(&c.QueryFraction)},
		{"BENCH_QUERY_WRITE_FRACTION", "part query: the writes while busy, a fraction of the warm raw _bulk ceiling (enrich's drain rate is reported beside it)", fraction(&c.QueryWriteFraction)},
		{"BENCH_QUERY_WRITE_RATE", "part query: the writes while busy in events/s (e.g. 10000) instead of BENCH_QUERY_WRITE_FRACTION; 0: the fraction", number(&c.QueryWriteRate)},
		{"BENCH_COST_FRACTION", "part cost: the load, a fraction of the raw _bulk rate sustained into growing indices", fraction(&c.CostFraction)},
		{"BENCH_COST_DURATION", "part cost: measured time at that load", duration(&c.CostDuration)},
		{"BENCH_COST_PROFILE", "parts cost and query: 1 to keep CPU profiles (pprof on DEBUG_ADDR) in the results folder: of ingest, enrich and nats-server (its prof_port) over cost's measured window, of the query service over the idle first pages", flag(&c.CostProfile)},
		{"BENCH_BASELINE", "a git revision (e.g. main~3) whose ingest and enrich are built and measured beside this checkout's in the same run: parts ingest and pipeline (unset: none)", text(&c.Baseline)},
		{"BENCH_DELETE_EVENTS", "part delete: events in its data set over 30 daily indices (up to 10000000; the data set is rebuilt every run, deletions change it)", integer(&c.DeleteEvents)},
		{"BENCH_DELETE_USERS", "part delete: users in its data set (each has about events/users events)", integer(&c.DeleteUsers)},
		{"BENCH_DELETE_DURATION", "part delete: each window, without and with deletions running back to back", duration(&c.DeleteDuration)},
		{"BENCH_DELETE_WRITE_RATE", "part delete: events/s ingested during both windows", integer(&c.DeleteWriteRate)},
		{"BENCH_DELETE_QUERY_RATE", "part delete: first-page queries/s during both windows", integer(&c.DeleteQueryRate)},
		{"OPENSEARCH_HEAP", "heap of the bench's OpenSearch node", text(&c.OpenSearchHeap)},
		{"BENCH_WRITE", "1: rewrite BENCHMARKS.md and docs/benchmarks/ingest-latency.png from this run", flag(&c.Write)},
	}
}

// Tunables describes the environment variables Load reads.
func Tunables() []report.Tunable {
	var out []report.Tunable
	def := defaults()
	for _, t := range tunables(&def) {
		help := t.help
		if v := t.show(); v != "" {
			help += " (default " + v + ")"
		}
		out = append(out, report.Tunable{Name: t.name, Help: help})
	}
	return out
}

// Load returns the defaults (shrunk for a smoke run if short) with the
// environment's tunables applied, and checks them.
func Load(lookup config.LookupFunc, isShort bool) (Config, error) {
	c := defaults()
	if isShort {
		c = short(c)
	}
	r := config.NewReader(lookup)
	for _, t := range tunables(&c) {
		t.read(r, t.name)
	}
	if err := r.Err(); err != nil {
		return Config{}, fmt.Errorf("bench config: %w", err)
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("bench config: %w", err)
	}
	return c, nil
}

func (c Config) validate() error {
	var bad []string
	for _, n := range []struct {
		name string
		v    int
	}{{"BENCH_ROUNDS", c.Rounds}, {"BENCH_CONCURRENCY", c.Concurrency}, {"BENCH_BATCH", c.Batch},
		{"BENCH_ENRICH_EVENTS", c.EnrichEvents}, {"BENCH_QUERY_EVENTS", c.QueryEvents}, {"BENCH_QUERY_USERS", c.QueryUsers},
		{"BENCH_DELETE_EVENTS", c.DeleteEvents}, {"BENCH_DELETE_USERS", c.DeleteUsers}, {"BENCH_DELETE_WRITE_RATE", c.DeleteWriteRate},
		{"BENCH_DELETE_QUERY_RATE", c.DeleteQueryRate}} {
		if n.v < 1 {
			bad = append(bad, fmt.Sprintf("%s: %d, want at least 1", n.name, n.v))
		}
	}
	if c.Duration <= 0 {
		bad = append(bad, "BENCH_DURATION: want above 0")
	}
	if c.E2EDuration <= 0 {
		bad = append(bad, "BENCH_E2E_DURATION: want above 0")
	}
	if len(c.IngestFractions) == 0 || len(c.LagFractions) == 0 {
		bad = append(bad, "BENCH_INGEST_FRACTIONS, BENCH_LAG_FRACTIONS: want at least one fraction each")
	}
	if strings.HasPrefix(c.Baseline, "-") {
		bad = append(bad, fmt.Sprintf("BENCH_BASELINE: %q, want a git revision", c.Baseline))
	}
	if c.Write && c.Short {
		bad = append(bad, "BENCH_WRITE with -short: a smoke run's figures do not belong in BENCHMARKS.md")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

func duration(p *time.Duration) binding {
	return binding{func(r *config.Reader, name string) { *p = r.Duration(name, *p) }, func() string { return p.String() }}
}

func integer(p *int) binding {
	return binding{func(r *config.Reader, name string) { *p = r.Int(name, *p) }, func() string { return strconv.Itoa(*p) }}
}

func text(p *string) binding {
	return binding{func(r *config.Reader, name string) { *p = r.String(name, *p) }, func() string { return *p }}
}

// folder is an existing directory, if set.
func folder(p *string) binding {
	read := func(r *config.Reader, name string) {
		v := r.String(name, *p)
		if v == "" {
			return
		}
		if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
			r.Failf("%s: %q, want an existing folder", name, v)
			return
		}
		*p = v
	}
	return binding{read, func() string { return *p }}
}

// settings is a comma-separated list of NAME=VALUE, each NAME with prefix
// (the bench sets the addresses, broker, store and names itself).
func settings(prefix string, p *map[string]string) binding {
	read := func(r *config.Reader, name string) {
		v := r.String(name, "")
		if v == "" {
			return
		}
		m := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || !strings.HasPrefix(k, prefix) || k == prefix+"HTTP_ADDR" {
				r.Failf("%s: %q, want %sNAME=VALUE[,...] (not %sHTTP_ADDR)", name, kv, prefix, prefix)
				return
			}
			m[k] = val
		}
		*p = m
	}
	show := func() string {
		var kvs []string
		for _, k := range slices.Sorted(maps.Keys(*p)) {
			kvs = append(kvs, k+"="+(*p)[k])
		}
		return strings.Join(kvs, ",")
	}
	return binding{read, show}
}

func flag(p *bool) binding {
	return binding{func(r *config.Reader, name string) { *p = r.Bool(name, *p) }, func() string { return strconv.FormatBool(*p) }}
}

func number(p *float64) binding {
	read := func(r *config.Reader, name string) {
		if v := r.Float(name, *p); v >= 0 {
			*p = v
		} else {
			r.Failf("%s: %v, want 0 or more", name, v)
		}
	}
	return binding{read, func() string { return strconv.FormatFloat(*p, 'g', -1, 64) }}
}

func fraction(p *float64) binding {
	read := func(r *config.Reader, name string) {
		if v := r.Float(name, *p); v > 0 && v <= 4 {
			*p = v
		} else {
			r.Failf("%s: %v, want a fraction above 0 (at most 4)", name, v)
		}
	}
	return binding{read, func() string { return strconv.FormatFloat(*p, 'g', -1, 64) }}
}

func fractions(p *[]float64) binding {
	read := func(r *config.Reader, name string) {
		list := r.List(name)
		if len(list) == 0 {
			return
		}
		var out []float64
		for _, s := range list {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v <= 0 || v > 4 {
				r.Failf("%s: %q, want fractions above 0 (at most 4)", name, s)
				return
			}
			out = append(out, v)
		}
		*p = out
	}
	show := func() string {
		s := make([]string, len(*p))
		for i, v := range *p {
			s[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		return strings.Join(s, ",")
	}
	return binding{read, show}
}

// partOrder is every part, in the order a run takes them.
func partOrder() []string {
	return []string{"ingest", "segment", "stream", "pipeline", "query", "cost", "delete", "scaling"}
}

// checkWrite refuses BENCH_WRITE for a run of some parts only: the area of
// BENCHMARKS.md above its marker is rendered whole from one run, so it
// would be left with just those parts' sections. A single part's section is
// in the results folder's summary.md, to copy in by hand.
func checkWrite(c Config, parts []string) error {
	if c.Write && !slices.Equal(parts, partOrder()) {
		return fmt.Errorf("BENCH_WRITE=1 with parts %s: it rewrites every part's section of BENCHMARKS.md from this run, so it runs with all parts (no part arguments); "+
			"a single part's section is in .cache/bench/<time>/summary.md, to copy in by hand", strings.Join(parts, ","))
	}
	return nil
}

// Parts checks the parts asked for and puts them in the order they run;
// none, or "all", is every part.
func Parts(args []string) ([]string, error) {
	all := partOrder()
	if len(args) == 0 || (len(args) == 1 && args[0] == "all") {
		return all, nil
	}
	for _, a := range args {
		if !slices.Contains(all, a) {
			return nil, fmt.Errorf("unknown part %q: want %s or all", a, strings.Join(all, ", "))
		}
	}
	return slices.DeleteFunc(all, func(p string) bool { return !slices.Contains(args, p) }), nil
}
