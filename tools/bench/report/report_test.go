package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/latency"
	"github.com/evtrack/telemetry/tools/loadgen"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func summary(t *testing.T, values ...float64) stats.Summary {
	t.Helper()
	s, err := stats.Summarize(values)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// warmed is s with its discarded warm-up rounds recorded.
func warmed(s stats.Summary, warmup ...float64) stats.Summary {
	s.Warmup = warmup
	return s
}

func lat(p50, p99 float64) latency.Percentiles {
	return latency.Percentiles{P50: p50, P90: (p50 + p99) / 2, P99: p99, P999: p99 * 1.5, Max: p99 * 2}
}

// fixed is a whole run with made-up, self-consistent figures.
func fixed(t *testing.T) Summary {
	t.Helper()
	quarter := stats.LoadPoint{Fraction: 0.25, Units: 150000, Rate: 1500}
	return Summary{
		Baseline: "main~3 (9ede0f6)",
		Machine:  Machine{Date: "2026-12-01", Cores: 2, CPU: "AMD EPYC", RAMGiB: 23, Go: "go1.26.8", NATS: "2.12.1", OpenSearch: "2.19.6", Heap: "1g"},
		Ingest: &Ingest{
			BatchSize: 100, BodyBytes: 35899, Concurrency: 32, Duration: 15 * time.Second, OpenConcurrency: 64,
			Rounds: []DoorRound{
				{"naive", 1, Load{EventsPerSec: 200000, Latency: lat(11.9, 74.3), CPUCores: 1.1}},
				{"ingest", 1, Load{EventsPerSec: 600000, Latency: lat(4.9, 12.4), CPUCores: 0.9}},
			},
			Naive: summary(t, 200000, 190000, 210000), Ingest: summary(t, 600000, 610000, 400000), Baseline: ptr(summary(t, 580000, 590000, 570000)), JetStream: summary(t, 650000, 660000, 640000),
			JetStreamEvents: 2000000,
			Open:            []OpenPoint{{Target: "ingest", Point: quarter, Load: Load{EventsPerSec: 149990, Latency: lat(0.87, 2.53)}}},
			Plot:            "ingest-latency.png",
		},
		Stream: &Stream{Ceiling: summary(t, 600000, 610000, 400000), Point: stats.LoadPoint{Fraction: 0.5, Units: 300000, Rate: 3000}, Runs: []StreamRun{
			{Name: "at a 1 GiB byte cap", Load: Load{EventsPerSec: 250000, Seconds: 60, Latency: lat(0.79, 12.54), Statuses: map[string]int{"503": 7, "202": 150000}, Transport: 2, CPUCores: 0.95},
				IngestP99: 9.5, AckP99: 8.7, NATSCores: 0.31, ClientCores: 0.45},
		}},
		Pipeline: &Pipeline{
			Events: 400000, DocBytes: 809, Bulk: warmed(summary(t, 43000, 42000, 44000), 30000, 40000, 42500), BulkDocs: 5000, BulkFlight: 2,
			Drain: 38600, BaselineDrain: 37900, DrainCPU: 1.4, DrainRSSMiB: 85, StoredDocs: 400000, StoredBytes: 107441600, LagStep: 20 * time.Second, LagSample: 6 * time.Second,
			Lag: []LagStep{
				{Point: stats.LoadPoint{Fraction: 0.4, Units: 15440, Rate: 154}, Before: 0, After: 0},
				{Point: stats.LoadPoint{Fraction: 1, Units: 38600, Rate: 386}, Before: 294, After: 1744, Growing: true},
			},
			E2E: EndToEnd{Point: stats.LoadPoint{Fraction: 0.25, Units: 9650, Rate: 97}, Load: Load{EventsPerSec: 9700, Seconds: 30, Latency: lat(1.2, 7.7)},
				TimeToSearchable: latency.Percentiles{P50: 836, P90: 1281, P99: 1454, Max: 1602}, Batches: 3301, Accepted: 330100, Indexed: 330100,
				Bulks: EnrichBulks{Requests: 412, P50ms: 180, P99ms: 610, DocsP50: 700, DocsP99: 2400}},
		},
		Query: &Query{
			Events: 10000000, Users: 100000, Days: 30, Reused: true, Concurrency: 16, CeilingDuration: 10 * time.Second,
			Ceiling: warmed(summary(t, 400, 410, 390), 350), Point: stats.LoadPoint{Fraction: 0.25, Units: 100, Rate: 100}, Duration: 30 * time.Second,
			Idle: Load{EventsPerSec: 100, Latency: lat(7.2, 11.8), Statuses: map[string]int{"200": 3000}},
			Busy: Load{EventsPerSec: 100, Latency: lat(8.6, 27), Statuses: map[string]int{"200": 2999}, Transport: 1},
			OverheadIdle: Overhead{Service: Load{EventsPerSec: 50, Latency: lat(7, 11.5), Statuses: map[string]int{"200": 1500}},
				Raw: Load{EventsPerSec: 50, Latency: lat(6, 9.8), Statuses: map[string]int{"200": 1500}}},
			OverheadBusy: Overhead{Service: Load{EventsPerSec: 50, Latency: lat(8.5, 26), Statuses: map[string]int{"200": 1500}},
				Raw: Load{EventsPerSec: 50, Latency: lat(7.8, 22.5), Statuses: map[string]int{"200": 1500}}},
			Writes: Load{EventsPerSec: 9650}, WritePoint: stats.LoadPoint{Fraction: 0.25, Units: 9650, Rate: 97}, BulkCeiling: 38600, DrainCeiling: 34000,
		},
		Cost: &Cost{
			Ceiling: warmed(summary(t, 43000, 42000, 44000), 19000, 25300, 28600), Point: stats.LoadPoint{Fraction: 0.8, Units: 27520, Rate: 275}, Duration: 60 * time.Second,
			Sustained: Sustained{DocsPerSec: 34400, Documents: 2800000, Rounds: 7, CPUSeconds: 160.1},
			Load:      Load{EventsPerSec: 27510, Latency: lat(3.1, 40.2)}, Events: 1650600, Delivered: 1650300, PendingBefore: 12, PendingAfter: 15,
			Procs:      []ProcCost{{"ingest", 12.4}, {"nats-server", 8.1}, {"enrich", 30.2}, {"OpenSearch", 61.9}},
			Client:     ProcCost{"load generator (the bench process)", 6.3},
			Alone:      Alone{CPUSeconds: 54.3, Duration: 28 * time.Second, Documents: 1200000},
			Accounting: loadgen.Accounting{AcceptedEvents: 2270000, IndexedEvents: 2270000, Documents: 2270000},
			IndexBytes: 572000000, IndexDocs: 2270000,
			Stream: []StreamDisk{{"s2", 1500000, 120000000}, {"none", 1500000, 327000000}},
		},
		Delete: &Delete{
			Events: 300000, Users: 300, Days: 30, Duration: 20 * time.Second,
			IngestWithout: Load{EventsPerSec: 2000, Latency: lat(7.6, 207)}, IngestWith: Load{EventsPerSec: 2000, Latency: lat(6.1, 235)},
			QueryWithout: Load{EventsPerSec: 17, Latency: lat(1900, 2937), Statuses: map[string]int{"200": 344}},
			QueryWith:    Load{EventsPerSec: 17, Latency: lat(527, 4026), Statuses: map[string]int{"200": 335}},
			Jobs:         1, Deleted: 1238, JobSeconds: []float64{55.71}, MedianSeconds: 55.71, MaxSeconds: 55.71, MedianSettleSeconds: 25.89, DocsPerSec: 22.2,
		},
		Scaling: &Scaling{Concurrency: 32, Duration: 15 * time.Second, Events: 400000, Rows: []ScalingRow{
			{"ingest", 1, 300000, 1.0, 300000}, {"ingest", 2, 330000, 1.2, 275000},
			{"enrich", 1, 20000, 0.5, 40000}, {"enrich", 2, 24000, 0.8, 30000},
		}},
	}
}

func TestRenderSummary(t *testing.T) {
	full := fixed(t)
	ingestOnly := Summary{Machine: full.Machine, Ingest: full.Ingest}
	tests := []struct {
		name    string
		summary Summary
		want    []string // lines or fragments the output must hold
		wantNot []string
	}{
		{"ratios of medians", full, []string{
			"**ingest / naive = 3.00** (medians: 600000 vs 200000 events/s); ingest reached **0.92** of the raw JetStream publish ceiling.",
			"| naive | 1 | 200000 | 1.00 | 11.90 | 74.30 | 1.10 |",
			"| ingest | 1 | 600000 | 3.00 | 4.90 | 12.40 | 0.90 |",
		}, nil},
		{"a wide range is flagged noisy, a narrow one not", full, []string{
			"| ingest | 600000 | 400000–610000 | ±33% **noisy** |",
			"| naive front door | 200000 | 190000–210000 | ±5% |",
		}, nil},
		{"scaling: gain over one instance and per core", full, []string{
			"| ingest | 2 | 330000 | 1.10 | 1.20 | 275000 |",
			"| enrich | 1 | 20000 | 1.00 | 0.50 | 40000 |",
			"| enrich | 2 | 24000 | 1.20 | 0.80 | 30000 |",
		}, nil},
		{"load points are stated as fractions", full, []string{
			"| ingest | 25% of its max | 150000 | 149990 | 0.87 |",
			"Open loop at 50% of that median (300000 events/s), an empty broker each time:",
			"| 100% of the drain rate | 38600 | 294 | 1744 | growing |",
			"| 40% of the drain rate | 15440 | 0 | 0 | flat |",
			"Steady 9700 events/s (25% of the warm raw `_bulk` ceiling)",
			"Open loop at 25% of that ceiling (100 queries/s)",
			"(25% of the warm raw `_bulk` ceiling, 38600; 0.28 of enrich's drain rate, 34000)",
		}, nil},
		{"the query service's overhead is a ratio to OpenSearch's own latency, from the runs in turn", full, []string{
			"| idle | query service | 50 | 7.00 | 9.25 | 11.50 | 200: 1500 |",
			"| idle | **service / OpenSearch** | | **1.17** | **1.17** | **1.17** | |",
			"| busy | **service / OpenSearch** | | **1.09** | **1.14** | **1.16** | |",
		}, nil},
		{"answers in a stable order, with transport errors", full, []string{
			"| 202: 150000, 503: 7, transport errors: 2 |",
			"| 200: 2999, transport errors: 1 |",
		}, nil},
		{"pipeline figures", full, []string{
			"| **enrich draining a pre-filled stream** | **38600** | **0.90** of the median ceiling | |",
			"| ms | 836 | 1281 | 1454 | 1602 |",
			"accepted 330100, indexed 330100, lost 0, duplicated 0",
			"OpenSearch 2.19.6, 1 shard, refresh 1s, 1g heap.",
		}, nil},
		{"deletions against a window without", full, []string{
			"## Delete: people deleted while ingest and queries run (300000 events of 300 users over 30 daily indices)",
			"(each about 1000 events), for 20 s",
			"| back to back | 1 | 1238 | 55.71 | 25.89 | 55.71 | 22 |",
			"| no deletion | 2000 | 7.60 | 207.00 | 17 | 1900.00 | 2937.00 | 200: 344 |",
		}, nil},
		{"only the parts that ran", ingestOnly, []string{"## Ingest front door (2026-12-01, 2 cores"},
			[]string{"## Ingest latency and the state", "## Enrich", "## Query", "## Delete", "<no value>"}},
		{"the segment part: both ratios and the open-loop p99", Summary{Machine: full.Machine, Segment: &Segment{
			BatchSize: 100, TrackBodyBytes: 35899, BatchBodyBytes: 39451, Concurrency: 32, OpenConcurrency: 64, Duration: 15 * time.Second,
			Rounds: []DoorRound{
				{Door: "/v1/track", Round: 1, Load: Load{EventsPerSec: 200000, Latency: lat(5, 12), CPUCores: 1}},
				{Door: "/v1/batch", Round: 1, Load: Load{EventsPerSec: 180000, Latency: lat(6, 14), CPUCores: 1}},
			},
			Track: summary(t, 200000), Batch: summary(t, 180000), RoundRatios: summary(t, 0.9),
			Point: stats.LoadPoint{Fraction: 0.5, Units: 100000, Rate: 1000},
			Open:  []OpenPoint{{Target: "/v1/batch", Load: Load{EventsPerSec: 100000, Latency: lat(1, 4), Statuses: map[string]int{"200": 1000}}}},
		}}, []string{
			"## Segment API: /v1/batch beside /v1/track",
			"| /v1/batch | 1 | 180000 | 6.00 | 14.00 | 1.00 |",
			"/v1/batch's median is **0.90** of /v1/track's; round by round (each /v1/batch round over the /v1/track round just before it) the median ratio is **0.90**",
			"| /v1/batch | 100000 | 1.00 | 2.50 | 4.00 | 6.00 | 200: 1000 |",
		}, []string{"## Ingest front door"}},
		{"nothing ran", Summary{}, nil, []string{"##", "<no value>"}},
		{"a smoke run says so", Summary{Short: true, Machine: full.Machine, Stream: full.Stream}, []string{"**A -short smoke run", "## Ingest latency and the state"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderSummary(&b, tt.summary); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, w := range append(tt.wantNot, "<no value>", "%!") {
				if strings.Contains(out, w) {
					t.Errorf("holds %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestRenderBenchmarks compares the whole of BENCHMARKS.md for the fixed
// run with testdata/BENCHMARKS.golden.md (go test -update rewrites it).
func TestRenderBenchmarks(t *testing.T) {
	s := fixed(t)
	var sum bytes.Buffer
	if err := RenderSummary(&sum, s); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err := RenderBenchmarks(&b, Doc{Machine: s.Machine, Parts: "all", Summary: sum.String(), Plot: "docs/benchmarks/ingest-latency.png",
		Tunables: []Tunable{{"BENCH_DURATION", "measured time of a round"}, {"BENCH_WRITE", "1: rewrite BENCHMARKS.md"}},
		Kept:     Kept("# Benchmarks\n\nold figures\n\n" + KeptMarker + "\n\n## Measured elsewhere\n\nkept as it is\n")})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "BENCHMARKS.golden.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("BENCHMARKS.md differs from %s (go test -update to accept):\n%s", golden, b.String())
	}
}

// TestKept: a rewrite keeps the marker and what follows it, and adds the
// marker to a file that has none.
func TestKept(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"none yet", "# Benchmarks\n\nfigures\n", KeptMarker + "\n"},
		{"kept", "# Benchmarks\n" + KeptMarker + "\n## Swift\nx\n", KeptMarker + "\n## Swift\nx\n"},
		{"empty file", "", KeptMarker + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Kept(tc.doc); got != tc.want {
				t.Errorf("Kept(%q) = %q, want %q", tc.doc, got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCostCarry(t *testing.T) {
	four := []ProcCost{{"ingest", 5}, {"nats-server", 3}, {"enrich", 2}, {"OpenSearch", 40}}
	tests := []struct {
		name  string
		cost  Cost
		cores int
		want  float64
	}{
		{"the four and the load generator", Cost{Procs: four, Client: ProcCost{"load generator", 10}, Events: 1_000_000}, 2, 2 * 1_000_000 / 60.0},
		{"without a load generator", Cost{Procs: four, Events: 1_000_000}, 2, 2 * 1_000_000 / 50.0},
		{"a backlog grew: enrich and OpenSearch over what enrich took", Cost{Procs: four, Client: ProcCost{"load generator", 10}, Events: 1_000_000, Delivered: 800_000, Growing: true},
			2, 2 / (18/1e6 + 42/8e5)},
		{"a backlog grew, enrich took nothing", Cost{Procs: four, Events: 1_000_000, Growing: true}, 2, 0},
		{"nothing accepted", Cost{Procs: four}, 2, 0},
		{"no CPU measured", Cost{Events: 1000}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cost.Carry(tt.cores); math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("Carry(%d) = %v, want %v", tt.cores, got, tt.want)
			}
		})
	}
	if got := (Cost{Procs: four}).CPUOf("OpenSearch"); got != 40 {
		t.Errorf("CPUOf(OpenSearch) = %v, want 40", got)
	}
	if got := (Cost{Procs: four}).CPUOf("kafka"); got != 0 {
		t.Errorf("CPUOf(kafka) = %v, want 0 (not measured)", got)
	}
}
