// Package report renders a benchmark run as markdown with text/template:
// the summary of the parts that ran, and BENCHMARKS.md around it. The types
// here are the whole of what a report shows; the bench fills them.
package report

import (
	"embed"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/evtrack/telemetry/tools/bench/stats"
	"github.com/evtrack/telemetry/tools/latency"
	"github.com/evtrack/telemetry/tools/loadgen"
)

//go:embed templates/*.tmpl
var files embed.FS

// Summary is one run's results, a part each (nil: the part did not run).
type Summary struct {
	Short    bool   // a smoke run: its figures are not measurements
	Baseline string // the revision measured beside this checkout (BENCH_BASELINE); empty: none
	Machine  Machine
	Ingest   *Ingest
	Segment  *Segment
	Stream   *Stream
	Pipeline *Pipeline
	Query    *Query
	Cost     *Cost
	Delete   *Delete
	Scaling  *Scaling
}

// Scaling is ingest and enrich with one and two instances on one machine.
type Scaling struct {
	Concurrency int           // the ingest load's connections
	Duration    time.Duration // of an ingest run
	Events      int           // in the stream each enrich run drains
	Rows        []ScalingRow  // ingest 1, 2, then enrich 1, 2
}

// ScalingRow is one service at a number of instances.
type ScalingRow struct {
	Service      string // ingest or enrich
	Instances    int
	EventsPerSec float64 // accepted (ingest) or indexed (enrich)
	CPUCores     float64 // the instances' CPU time over the wall time, together
	PerCore      float64 // EventsPerSec / CPUCores
}

// Gain is row's rate over the one-instance rate of the same service (0 if
// there is none).
func (s Scaling) Gain(row ScalingRow) float64 {
	for _, r := range s.Rows {
		if r.Service == row.Service && r.Instances == 1 && r.EventsPerSec > 0 {
			return row.EventsPerSec / r.EventsPerSec
		}
	}
	return 0
}

// Machine is where and with what the run measured.
type Machine struct {
	Date       string // UTC, YYYY-MM-DD
	Cores      int
	CPU        string
	RAMGiB     int
	Go         string
	NATS       string // nats-server version; empty if none ran
	OpenSearch string // empty if none ran
	Heap       string // OpenSearch's
}

// Load is one load-generator run as the tables show it.
type Load struct {
	EventsPerSec float64 // accepted (ingest) or answered (query) per second
	Seconds      float64
	Latency      latency.Percentiles
	Statuses     map[string]int
	Transport    int64   // transport errors
	CPUCores     float64 // the target process's CPU time over the run's wall time; 0: not read
}

// Ingest is the front-door part.
type Ingest struct {
	SyncInterval    string // JetStream's; empty: the server's default
	BatchSize       int
	BodyBytes       int
	Concurrency     int
	Duration        time.Duration
	Rounds          []DoorRound // the measured rounds, in order
	Naive, Ingest   stats.Summary
	Baseline        *stats.Summary // the baseline's ingest (Summary.Baseline), round by round beside this one; nil: none
	JetStream       stats.Summary  // raw publish of the same batches, events/s
	JetStreamEvents int            // a round's events
	OpenConcurrency int
	Open            []OpenPoint
	Plot            string // file name of the latency plot, if drawn
}

// DoorRound is one closed-loop round of one front door.
type DoorRound struct {
	Door  string
	Round int
	Load
}

// OpenPoint is one open-loop run at a fraction of a ceiling.
type OpenPoint struct {
	Target string
	Point  stats.LoadPoint
	Load
}

// Segment is the Segment-compatible /v1/batch beside /v1/track: the same
// events in both formats, on the same ingest.
type Segment struct {
	BatchSize                      int
	TrackBodyBytes, BatchBodyBytes int
	Concurrency, OpenConcurrency   int
	Duration                       time.Duration
	Rounds                         []DoorRound // Door is the route
	Track, Batch                   stats.Summary
	RoundRatios                    stats.Summary   // each round's /v1/batch over the same round's /v1/track
	Point                          stats.LoadPoint // of Track's median
	Open                           []OpenPoint     // Target is the route
}

// Stream is ingest's tail latency against the state of its stream.
type Stream struct {
	Ceiling stats.Summary   // ingest's maximum, events/s
	Point   stats.LoadPoint // of its median
	Runs    []StreamRun
}

// StreamRun is one state of the stream.
type StreamRun struct {
	Name string
	Load
	// Where the time and the CPU went, over the same run: p99 of the
	// requests as ingest itself timed them (body read to response) and of
	// JetStream's acknowledgements (from its histograms, estimated within
	// their buckets), and the cores each process used; the load generator
	// is the bench's own process. Load.CPUCores is ingest's.
	IngestP99, AckP99      float64 // ms
	NATSCores, ClientCores float64
}

// Pipeline is enrich and the whole path.
type Pipeline struct {
	Events      int
	DocBytes    int // a document with its bulk action line
	Bulk        stats.Summary
	BulkDocs    int
	BulkFlight  int
	Drain       float64 // enrich's documents/s draining a pre-filled stream
	DrainCPU    float64 // cores enrich used meanwhile
	DrainRSSMiB int64   // enrich's peak resident memory
	// BaselineDrain is the baseline's enrich draining the same events right
	// after (Summary.Baseline); 0: none.
	BaselineDrain float64
	StoredDocs    int64 // the drained documents, merged into one segment a day
	StoredBytes   int64 // the bytes they take on disk (primaries)
	LagStep       time.Duration
	LagSample     time.Duration
	Lag           []LagStep
	E2E           EndToEnd
}

// LagStep is one sustained rate.
type LagStep struct {
	Point         stats.LoadPoint // of the drain rate
	Before, After float64         // messages pending, at the sample and at the end
	Growing       bool
}

// EndToEnd is ingest → JetStream → enrich → OpenSearch at a steady rate.
type EndToEnd struct {
	Point            stats.LoadPoint // of the raw _bulk ceiling
	Load             Load
	TimeToSearchable latency.Percentiles
	Batches          int64
	NeverSeen        int
	Accepted         int64
	Indexed          int64
	Lost             int64
	Duplicated       int64
	Unaccepted       int64
	Bulks            EnrichBulks // enrich's _bulk requests meanwhile
}

// EnrichBulks is what enrich's _bulk requests were like over a run, from
// its histograms (bucket bounds a factor of 2 apart: estimates).
type EnrichBulks struct {
	Requests         float64
	P50ms, P99ms     float64 // duration
	DocsP50, DocsP99 float64 // documents in one
}

// Query is support-style reads on a large index.
type Query struct {
	Events, Users, Days int
	Reused              bool // the data set was built by an earlier run
	Concurrency         int
	CeilingDuration     time.Duration
	Ceiling             stats.Summary   // closed-loop queries/s
	Point               stats.LoadPoint // of the ceiling, for idle and busy
	Duration            time.Duration
	Idle, Busy          Load
	// The service's overhead, right after Idle and Busy: its first pages
	// and the searches it sends for them sent straight to OpenSearch, in
	// turn, at the same total rate.
	OverheadIdle, OverheadBusy Overhead
	Writes                     Load            // the ingest load while busy
	WritePoint                 stats.LoadPoint // of the warm raw _bulk ceiling
	BulkCeiling                float64         // that ceiling's median, documents/s
	DrainCeiling               float64         // enrich's drain rate, beside it
}

// Overhead is one load sent to the query service and straight to
// OpenSearch, each query to one of them in turn.
type Overhead struct {
	Service, Raw Load
}

// OverheadRun is an overhead run named by what else ran ("idle", "busy").
type OverheadRun struct {
	While    string
	Overhead Overhead
}

// Overheads are the overhead runs in the order they ran.
func (q Query) Overheads() []OverheadRun {
	return []OverheadRun{{"idle", q.OverheadIdle}, {"busy", q.OverheadBusy}}
}

// Cost is the cost-per-event part: the whole pipeline at a fraction of
// OpenSearch's warm raw _bulk ceiling, the CPU each process spent per event
// over the measured window, and the bytes an event takes on disk.
type Cost struct {
	Ceiling       stats.Summary   // raw _bulk documents/s, each round into fresh indices
	Sustained     Sustained       // raw _bulk into one set of growing indices
	Point         stats.LoadPoint // of the sustained rate
	Duration      time.Duration
	Load          Load
	Events        int64 // accepted in the measured window
	Delivered     int64 // taken and acked by enrich in the window (Events less the growth of its pending and ack-pending messages)
	PendingBefore float64
	PendingAfter  float64
	Growing       bool
	Procs         []ProcCost
	Client        ProcCost           // the load generator, not in the pipeline's sum
	Alone         Alone              // OpenSearch over the ceiling's measured rounds
	Accounting    loadgen.Accounting // the whole run's, warm-up included
	IndexBytes    int64              // the run's indices once merged
	IndexDocs     int64
	Stream        []StreamDisk
}

// CPUOf is the CPU seconds of the process named name over the measured
// window (0 if it was not measured).
func (c Cost) CPUOf(name string) float64 {
	for _, p := range c.Procs {
		if p.Name == name {
			return p.CPUSeconds
		}
	}
	return 0
}

// Carry is the rate, in events/s, that cores can carry at the CPU an event
// cost over the measured window: the four processes' and the load
// generator's, which shares the cores, each over the events it handled —
// ingest, NATS and the load generator every accepted one; enrich and
// OpenSearch, when a backlog grew, only those enrich took (Delivered).
// Against the ceiling it says how close the machine itself lets the
// pipeline get (0 if nothing was measured).
func (c Cost) Carry(cores int) float64 {
	written := c.Events
	if c.Growing {
		written = c.Delivered
	}
	var perEvent float64 // CPU seconds an event, summed over the processes
	for _, p := range append(slices.Clone(c.Procs), c.Client) {
		if p.CPUSeconds <= 0 {
			continue
		}
		n := c.Events
		if p.Name == "enrich" || p.Name == "OpenSearch" {
			n = written
		}
		if n <= 0 {
			return 0
		}
		perEvent += p.CPUSeconds / float64(n)
	}
	if perEvent <= 0 {
		return 0
	}
	return float64(cores) / perEvent
}

// Sustained is OpenSearch's raw _bulk rate of the pipeline's documents
// written back to back into one set of daily indices that grow, and merge,
// as the pipeline's do, with its CPU over the same rounds.
type Sustained struct {
	DocsPerSec float64
	Documents  int64
	Rounds     int
	CPUSeconds float64
}

// Alone is OpenSearch's own CPU over the raw ceiling's measured rounds: what
// the store spends on a document with nothing else running, against which
// its CPU in the pipeline is read.
type Alone struct {
	CPUSeconds float64
	Duration   time.Duration // the wall time over which CPUSeconds was read
	Documents  int64
}

// ProcCost is one process's CPU time over the measured window.
type ProcCost struct {
	Name       string
	CPUSeconds float64
}

// StreamDisk is what a stream's files took for the events it held.
type StreamDisk struct {
	Compression string
	Events      int64
	Bytes       int64
}

// Delete is deleting people (DeleteUser jobs) while ingest and queries run.
type Delete struct {
	Events, Users, Days int
	Duration            time.Duration
	// Without and With: the ingest load and the queries, without deletions
	// and while deletions run back to back.
	IngestWithout, IngestWith Load
	QueryWithout, QueryWith   Load
	Jobs                      int       // deletions completed in the window
	Deleted                   int64     // documents they deleted
	JobSeconds                []float64 // each job's request-to-completed time
	MedianSeconds, MaxSeconds float64
	MedianSettleSeconds       float64 // of them, waiting until every enrich instance applied the suppression
	DocsPerSec                float64 // Deleted over the jobs' summed time
}

// Doc is BENCHMARKS.md.
type Doc struct {
	Machine  Machine
	Parts    string
	Summary  string // RenderSummary's output
	Plot     string // path of the latency plot from the repository root; empty: none
	Tunables []Tunable
	Kept     string // KeptMarker and what follows it in the file being rewritten
}

// KeptMarker starts the part of BENCHMARKS.md that the bench does not write:
// sections measured by other commands (each names its own). A rewrite keeps
// the marker and everything after it as they are.
const KeptMarker = "<!-- Sections below are measured by the commands they name; make bench keeps them as they are. -->"

// Kept returns KeptMarker and the rest of doc from it, or the marker alone
// when doc has none.
func Kept(doc string) string {
	if i := strings.Index(doc, KeptMarker); i >= 0 {
		return doc[i:]
	}
	return KeptMarker + "\n"
}

// Tunable is an environment variable the bench reads.
type Tunable struct{ Name, Help string }

var funcs = template.FuncMap{
	"int":    func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"ms":     func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"ratio":  ratio,
	"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"secs":   func(d time.Duration) string { return fmt.Sprintf("%.0f s", d.Seconds()) },
	"warmup": warmup,
	"ceiling": func(s stats.Summary) string {
		noisy := ""
		if s.Noisy() {
			noisy = " **noisy**"
		}
		return fmt.Sprintf("%.0f | %.0f–%.0f | ±%.0f%%%s", s.Median, s.Min, s.Max, s.Spread()*100, noisy)
	},
	"statuses": statuses,
	"join":     strings.Join,
	"perM": func(cpuSeconds float64, events int64) string {
		if events == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", cpuSeconds/float64(events)*1e6)
	},
	"cores": func(cpuSeconds float64, d time.Duration) string { return fmt.Sprintf("%.2f", cpuSeconds/d.Seconds()) },
	"per": func(bytes, n int64) string {
		if n == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f", float64(bytes)/float64(n))
	},
	"totalCPU": func(ps []ProcCost) float64 {
		var t float64
		for _, p := range ps {
			t += p.CPUSeconds
		}
		return t
	},
	"secs2":   func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"perUser": func(events, users int) float64 { return float64(events) / float64(max(users, 1)) },
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a/b) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// statuses lists status counts in a stable order, "202: 10, 503: 2".
func statuses(m map[string]int, transport int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	if transport > 0 {
		parts = append(parts, fmt.Sprintf("transport errors: %d", transport))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

var templates = template.Must(template.New("report").Funcs(funcs).ParseFS(files, "templates/*.tmpl"))

// RenderSummary writes the summary of the parts that ran.
func RenderSummary(w io.Writer, s Summary) error {
	if err := templates.ExecuteTemplate(w, "summary.md.tmpl", s); err != nil {
		return fmt.Errorf("render summary: %w", err)
	}
	return nil
}

// RenderBenchmarks writes BENCHMARKS.md.
func RenderBenchmarks(w io.Writer, d Doc) error {
	if err := templates.ExecuteTemplate(w, "benchmarks.md.tmpl", d); err != nil {
		return fmt.Errorf("render BENCHMARKS.md: %w", err)
	}
	return nil
}

// warmup says how a ceiling was warmed: its discarded rounds, if recorded,
// and whether they ended steady (stats.Summary.Warm).
func warmup(s stats.Summary) string {
	switch len(s.Warmup) {
	case 0:
		return "a warm-up round was run and discarded first"
	case 1: // BENCH_WARMUPS=1: nothing to say whether it was steady
		return fmt.Sprintf("a warm-up round was run and discarded first (%.0f)", s.Warmup[0])
	}
	rounds := make([]string, len(s.Warmup))
	for i, v := range s.Warmup {
		rounds[i] = fmt.Sprintf("%.0f", v)
	}
	how := fmt.Sprintf("until one was within ±%.0f%% of the one before", stats.WarmSteady*100)
	if !s.Warm() {
		how = fmt.Sprintf("**not steady** after the last (more than ±%.0f%% from the one before it)", stats.WarmSteady*100)
	}
	return fmt.Sprintf("warm-up rounds run and discarded first: %s, %s", strings.Join(rounds, " → "), how)
}
