package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/bench/report"
	"github.com/evtrack/telemetry/tools/bench/stats"
)

// binaries are the main packages a run builds and starts.
func binaries() []string {
	return []string{
		"./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich", "./services/enrich/cmd/enrichbench",
		"./services/query/cmd/query", "./tools/cmd/naive-ingest",
	}
}

// Credentials of the bench's own services (loopback only, thrown away).
const (
	writeKey     = "bench-write-key-0123456789"
	readToken    = "bench-read-token-0123456789"
	pageTokenKey = "62656e63682d706167652d746f6b656e2d6b65792d303132333435363738396162" // hex of 32 bytes
)

// runner is one run: its configuration, the processes it started, and what
// it measured so far.
type runner struct {
	cfg      Config
	root     string // the workspace root
	out      string // this run's results folder
	progress io.Writer
	group    *procs.Group
	bins     map[string]string
	natsBin  string
	http     *http.Client

	broker     *procs.NATSServer       // the current broker; replaced by freshBroker
	brokerDir  string                  // its config and store
	openSearch *procs.OpenSearchServer // started when a part first needs it
	osc        *opensearch.Client      // its client, for the bench's own requests

	// Ceilings a later part derives its load from, measured once a run.
	ingestMax    *stats.Summary // ingest's accepted events/s
	drainRate    float64        // enrich's documents/s draining a pre-filled stream
	baseIngest   *stats.Summary // the baseline's ingest maximum (BENCH_BASELINE)
	bulk         *stats.Summary // OpenSearch's warm raw _bulk ceiling, documents/s
	bulkDocBytes int            // the size of those documents as _bulk sends them
	bulkCost     report.Alone   // OpenSearch's own CPU over that ceiling's measured rounds

	summary report.Summary

	parts   []string // this run's
	scratch []string // folders removed once everything is stopped
}

// Run runs the parts in root's workspace, writes results into
// root/.cache/bench/<time>/, prints the summary to stdout and progress to
// progress. It stops every process it started before it returns.
func Run(ctx context.Context, cfg Config, root string, parts []string, stdout, progress io.Writer) (err error) {
	if err := checkWrite(cfg, parts); err != nil {
		return err
	}
	out := filepath.Join(root, ".cache", "bench", time.Now().UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("results folder: %w", err)
	}
	r := &runner{cfg: cfg, root: root, out: out, progress: progress, group: &procs.Group{}, http: &http.Client{Timeout: time.Minute},
		brokerDir: filepath.Join(cmp.Or(cfg.NATSDir, out), "nats-"+filepath.Base(out)), parts: parts}
	defer func() {
		r.logf("stopping everything the bench started")
		err = errors.Join(err, r.group.StopAll())
		for _, d := range r.scratch {
			err = errors.Join(err, os.RemoveAll(d))
		}
		// The broker's store holds gigabytes of batches nobody reads again.
		err = errors.Join(err, os.RemoveAll(r.brokerDir))
	}()
	if cfg.Short {
		r.logf("-short: a smoke run of a few seconds a point; its figures are not measurements")
	}
	if err := r.build(ctx); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(r.bins["ingest"]))
	r.summary.Machine = machine(cfg.OpenSearchHeap)
	r.summary.Short = cfg.Short
	for _, p := range parts {
		start := time.Now()
		r.logf("part %s", p)
		var err error
		switch p {
		case "ingest":
			r.summary.Ingest, err = r.ingestPart(ctx)
		case "segment":
			r.summary.Segment, err = r.segmentPart(ctx)
		case "stream":
			r.summary.Stream, err = r.streamPart(ctx)
		case "pipeline":
			r.summary.Pipeline, err = r.pipelinePart(ctx)
		case "query":
			r.summary.Query, err = r.queryPart(ctx)
		case "cost":
			r.summary.Cost, err = r.costPart(ctx)
		case "delete":
			r.summary.Delete, err = r.deletePart(ctx)
		case "scaling":
			r.summary.Scaling, err = r.scalingPart(ctx)
		}
		if err != nil {
			return fmt.Errorf("part %s: %w (results so far in %s)", p, err, r.out)
		}
		r.logf("part %s done in %s", p, time.Since(start).Round(time.Second))
	}
	var sum bytes.Buffer
	if err := report.RenderSummary(&sum, r.summary); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.out, "summary.md"), sum.Bytes(), 0o644); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if _, err := stdout.Write(sum.Bytes()); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	r.logf("results in %s", r.out)
	if cfg.Write {
		return r.writeBenchmarks(strings.Join(parts, ","), sum.String())
	}
	return nil
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, "bench: "+format+"\n", args...)
}

// build compiles the binaries into a temporary folder and makes sure
// nats-server is installed (scripts/tools.sh, pinned in versions.env).
func (r *runner) build(ctx context.Context) error {
	r.logf("building %s", strings.Join(binaries(), " "))
	dir, err := os.MkdirTemp("", "bench-bin")
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if r.bins, err = procs.Build(ctx, r.root, dir, binaries()...); err != nil {
		os.RemoveAll(dir)
		return err
	}
	if r.cfg.Baseline != "" {
		if err := r.buildBaseline(ctx, dir); err != nil {
			return err
		}
	}
	if os.Getenv("NATS_SERVER_BIN") == "" {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(r.root, "scripts", "tools.sh"), "nats")
		cmd.Stdout, cmd.Stderr = r.progress, r.progress
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("install nats-server (scripts/tools.sh nats): %w", err)
		}
	}
	r.natsBin, err = procs.NATSServerBin(r.root)
	return err
}

// Names of the baseline's binaries in r.bins.
const (
	baseIngest = "ingest@baseline"
	baseEnrich = "enrich@baseline"
)

// buildBaseline builds ingest and enrich of cfg.Baseline from a temporary
// worktree of the repository into dir, as baseIngest and baseEnrich.
func (r *runner) buildBaseline(ctx context.Context, dir string) error {
	rev, err := exec.CommandContext(ctx, "git", "-C", r.root, "rev-parse", "--short", r.cfg.Baseline+"^{commit}").Output()
	if err != nil {
		return fmt.Errorf("BENCH_BASELINE %q: not a revision of %s: %w", r.cfg.Baseline, r.root, err)
	}
	src := filepath.Join(r.out, "baseline-src")
	r.logf("building the baseline's ingest and enrich (%s = %s)", r.cfg.Baseline, strings.TrimSpace(string(rev)))
	if out, err := exec.CommandContext(ctx, "git", "-C", r.root, "worktree", "add", "--detach", src, r.cfg.Baseline).CombinedOutput(); err != nil {
		return fmt.Errorf("baseline worktree: %w\n%s", err, out)
	}
	defer func() { _ = exec.Command("git", "-C", r.root, "worktree", "remove", "--force", src).Run() }()
	bins, err := procs.Build(ctx, src, filepath.Join(dir, "baseline"), "./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich")
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	r.bins[baseIngest], r.bins[baseEnrich] = bins["ingest"], bins["enrich"]
	r.summary.Baseline = fmt.Sprintf("%s (%s)", r.cfg.Baseline, strings.TrimSpace(string(rev)))
	return nil
}

// writeJSON keeps one measurement's raw result in the results folder.
func (r *runner) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("result %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(r.out, name+".json"), b, 0o644); err != nil {
		return fmt.Errorf("result %s: %w", name, err)
	}
	return nil
}

// writeBenchmarks rewrites BENCHMARKS.md, and the plot it shows, from this
// run.
func (r *runner) writeBenchmarks(parts, summary string) error {
	const plot = "docs/benchmarks/ingest-latency.png"
	if r.summary.Ingest != nil && r.summary.Ingest.Plot != "" {
		b, err := os.ReadFile(filepath.Join(r.out, r.summary.Ingest.Plot))
		if err != nil {
			return fmt.Errorf("BENCHMARKS.md plot: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(r.root, filepath.Dir(plot)), 0o755); err != nil {
			return fmt.Errorf("BENCHMARKS.md plot: %w", err)
		}
		if err := os.WriteFile(filepath.Join(r.root, plot), b, 0o644); err != nil {
			return fmt.Errorf("BENCHMARKS.md plot: %w", err)
		}
	}
	old, err := os.ReadFile(filepath.Join(r.root, "BENCHMARKS.md"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("BENCHMARKS.md: %w", err)
	}
	doc := report.Doc{Machine: r.summary.Machine, Parts: parts, Summary: summary, Tunables: Tunables(), Kept: report.Kept(string(old))}
	if _, err := os.Stat(filepath.Join(r.root, plot)); err == nil {
		doc.Plot = plot
	}
	var b bytes.Buffer
	if err := report.RenderBenchmarks(&b, doc); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.root, "BENCHMARKS.md"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("BENCHMARKS.md: %w", err)
	}
	r.logf("wrote BENCHMARKS.md")
	return nil
}

// machine describes this machine; the servers' versions are added by the
// parts that start them.
func machine(heap string) report.Machine {
	m := report.Machine{Date: time.Now().UTC().Format("2006-01-02"), Cores: runtime.NumCPU(), Go: runtime.Version(), Heap: heap}
	if v, ok := procField("/proc/cpuinfo", "model name"); ok {
		m.CPU = v
	}
	if v, ok := procField("/proc/meminfo", "MemTotal"); ok {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.RAMGiB = int(kb >> 20)
		}
	}
	return m
}

// procField is the value of the first "name: value" line of a /proc file.
func procField(path, name string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
