package testrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/tools/servers"
)

// Config says what to run and against which servers.
type Config struct {
	Mode        Mode
	KeepServers bool           // KEEP_SERVERS: servers started here keep running after the tests
	Servers     servers.Config // NATS_URL, OPENSEARCH_URL, ... (package servers)
}

// Load reads the configuration for the workspace at root from lookup
// (os.LookupEnv) and the mode named on the command line ("" for all).
func Load(lookup func(string) (string, bool), root, mode string) (Config, error) {
	m, err := ParseMode(mode)
	if err != nil {
		return Config{}, err
	}
	srv, err := servers.Load(lookup, root)
	if err != nil {
		return Config{}, err
	}
	// The fault tests run nats-server processes of their own: the pinned one
	// that scripts/tools.sh installs there.
	srv.NATSBin = procs.PinnedNATSServer(root)
	keep, _ := lookup("KEEP_SERVERS")
	return Config{Mode: m, KeepServers: keep != "", Servers: srv}, nil
}

// Run runs the mode's plan; out gets the commands' output and progress
// lines ("test: ..."). The first failure ends the run.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	p := planFor(cfg.Mode)
	// When the run ends early, what it started in the background is
	// interrupted and waited for, and the servers it started are stopped.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &runner{root: cfg.Servers.Root, out: out, env: append(os.Environ(),
		"NATS_URL="+cfg.Servers.NATSURL, "OPENSEARCH_URL="+cfg.Servers.OpenSearchURL, "NATS_SERVER_BIN="+cfg.Servers.NATSBin)}
	if err := os.MkdirAll(r.cache(""), 0o755); err != nil {
		return err
	}
	if err := r.run(ctx, "bash", "scripts/tools.sh", "nats"); err != nil {
		return fmt.Errorf("install nats-server: %w", err)
	}

	// Servers start (OpenSearch's JVM takes a while) while the checks run.
	var serverLog bytes.Buffer
	var started []string
	srv := r.goJob(func() (err error) {
		started, err = servers.Start(ctx, cfg.Servers, servers.NewLog(&serverLog), servers.Names...)
		return err
	})
	defer func() {
		cancel()
		for _, j := range r.jobs {
			_ = j.wait() // a failure is reported where the run waits for it
		}
		if !cfg.KeepServers && len(started) > 0 {
			err = errors.Join(err, servers.Stop(cfg.Servers, servers.NewLog(out), started...))
		}
	}()
	var swiftInstall, sdkInstall func() error
	if p.swift {
		swiftInstall = r.background(ctx, "swift-install.log", "bash", "scripts/swift.sh", "install")
	}
	if p.sdks {
		sdkInstall = r.background(ctx, "sdks-install.log", "bash", "scripts/sdks.sh")
	}

	if p.lint {
		if err := r.run(ctx, "bash", "scripts/lint.sh"); err != nil {
			return fmt.Errorf("static checks: %w", err)
		}
	}
	if _, err := exec.LookPath("dockerd"); p.docker && err != nil {
		r.printf("installing Debian's docker.io (integration/docker runs its own dockerd)")
		if err := r.aptInstall(ctx, "docker.io"); err != nil {
			return err
		}
	}
	if _, err := exec.LookPath("cloud-init"); p.deploy && err != nil {
		r.printf("installing Debian's cloud-init (integration/digitalocean validates the Droplets' cloud-config with it)")
		if err := r.aptInstall(ctx, "--no-install-recommends", "cloud-init"); err != nil {
			return err
		}
	}

	err = srv.wait()
	io.Copy(out, &serverLog)
	if err != nil {
		return fmt.Errorf("the servers did not start: %w", err)
	}

	if p.swift {
		if err := swiftInstall(); err != nil {
			return fmt.Errorf("install Swift: %w", err)
		}
		start := time.Now()
		log, err := r.logged(ctx, "swift-test.log", "bash", "scripts/swift.sh", "swift", "test", "--disable-swift-testing")
		if err := r.shown(log, err); err != nil {
			return fmt.Errorf("swift test (clients/swift): %w", err)
		}
		r.printf("swift test (clients/swift): %s; %s", lastLine(log), since(start))
	}
	if p.sdks {
		if err := sdkInstall(); err != nil {
			return fmt.Errorf("install the tracking SDKs: %w", err)
		}
	}
	if len(p.packages) > 0 {
		r.printf("go test -race (NATS_URL=%s OPENSEARCH_URL=%s)", cfg.Servers.NATSURL, cfg.Servers.OpenSearchURL)
		if err := r.goTest(ctx, p.packages); err != nil {
			return err
		}
	}
	if p.fixtures {
		if err := r.run(ctx, "go", "test", "-race", "-count=1", "-run", "^TestTrackFixtures$", "./services/ingest/service/"); err != nil {
			return fmt.Errorf("fixtures (ingest's side): %w", err)
		}
	}
	if p.cluster {
		// 3 NATS + 3 OpenSearch nodes (512 MiB heaps) of its own, ~2.5 GB
		// RAM; prints what the client saw and the accounting of each fault.
		r.printf("cluster mode under faults (integration/cluster)")
		start := time.Now()
		log, err := r.logged(ctx, "cluster-test.log", "go", "test", "-race", "-count=1", "-v", "-timeout", "15m", "./integration/cluster/")
		if err := r.shown(log, err); err != nil {
			return fmt.Errorf("cluster test: %w", err)
		}
		fmt.Fprint(out, clusterSummary(log))
		r.printf("cluster test: %s", since(start))
	}
	if p.docker {
		r.printf("images built and run on a private Docker engine (integration/docker)")
		if err := r.run(ctx, "go", "test", "-count=1", "-v", "-timeout", "20m", "./integration/docker/"); err != nil {
			return fmt.Errorf("container test: %w", err)
		}
	}
	if p.fuzz {
		r.printf("fuzzing the ingest body decoders (JSON, protobuf, Segment) for 10s each")
		for _, target := range []string{"FuzzDecodeJSON", "FuzzDecodeProto", "FuzzDecodeSegment"} {
			if err := r.runIn(ctx, "services/ingest", "go", "test", "-run", "^$", "-fuzz", "^"+target+"$", "-fuzztime", "10s", "./internal/track/"); err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
		}
	}
	r.printf("all passed")
	return nil
}

// goTest runs go test -race over the patterns ("" is every module).
func (r *runner) goTest(ctx context.Context, patterns []string) error {
	args := []string{"list"}
	for _, p := range patterns {
		if p != "" {
			args = append(args, p)
			continue
		}
		mods, err := r.output(ctx, "go", "list", "-m", "-f", "{{.Dir}}/...")
		if err != nil {
			return fmt.Errorf("the workspace's modules: %w", err)
		}
		args = append(args, strings.Fields(mods)...)
	}
	listed, err := r.output(ctx, "go", args...)
	if err != nil {
		return fmt.Errorf("go list: %w", err)
	}
	return r.run(ctx, "go", append([]string{"test", "-race", "-count=1", "-timeout", "15m"}, together(listed)...)...)
}

// clusterSummary keeps of the cluster test's -v output the lines each
// scenario prints and the verdicts.
var clusterLine = regexp.MustCompile(`(?m)^(TestClusterFaults/|--- |ok ).*\n`)

func clusterSummary(log string) string {
	return strings.Join(clusterLine.FindAllString(log, -1), "")
}

// aptInstall installs Debian packages; the package index is updated once if
// they are not found.
func (r *runner) aptInstall(ctx context.Context, args ...string) error {
	apt := func(a ...string) error {
		cmd := r.command(ctx, "", "apt-get", append([]string{"-q", "-o", "DPkg::Lock::Timeout=300"}, a...)...)
		cmd.Stdout = io.Discard
		cmd.Env = append(cmd.Env, "DEBIAN_FRONTEND=noninteractive")
		return cmd.Run()
	}
	install := append([]string{"install", "-y"}, args...)
	if apt(install...) == nil {
		return nil
	}
	if err := apt("update"); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if err := apt(install...); err != nil {
		return fmt.Errorf("apt-get install %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// runner runs commands in the workspace with the servers' environment.
type runner struct {
	root string
	out  io.Writer
	env  []string
	jobs []*job // started in the background
}

func (r *runner) printf(format string, args ...any) {
	fmt.Fprintf(r.out, "test: "+format+"\n", args...)
}

func (r *runner) cache(name string) string { return filepath.Join(r.root, ".cache", name) }

// command is name args run in dir (relative to the root). Cancelling ctx
// interrupts it, as Ctrl-C would, and kills it if it has not ended 30 s later.
func (r *runner) command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(r.root, dir)
	cmd.Env = slices.Clone(r.env)
	cmd.Stdout, cmd.Stderr = r.out, r.out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

func (r *runner) run(ctx context.Context, name string, args ...string) error {
	return r.runIn(ctx, "", name, args...)
}

func (r *runner) runIn(ctx context.Context, dir, name string, args ...string) error {
	return r.command(ctx, dir, name, args...).Run()
}

// output is what the command writes to stdout.
func (r *runner) output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := r.command(ctx, "", name, args...)
	var b strings.Builder
	cmd.Stdout = &b
	err := cmd.Run()
	return b.String(), err
}

// logged runs the command with its output into .cache/log; it returns
// what the log holds and the command's error.
func (r *runner) logged(ctx context.Context, log, name string, args ...string) (string, error) {
	f, err := os.Create(r.cache(log))
	if err != nil {
		return "", err
	}
	cmd := r.command(ctx, "", name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	b, rerr := os.ReadFile(r.cache(log))
	return string(b), errors.Join(err, f.Close(), rerr)
}

// shown copies a failed command's log to out; it returns err.
func (r *runner) shown(log string, err error) error {
	if err != nil {
		io.WriteString(r.out, log)
	}
	return err
}

// background starts a logged command at once; the function it returns waits
// for it, and shows its log if it failed.
func (r *runner) background(ctx context.Context, log, name string, args ...string) func() error {
	var text string
	j := r.goJob(func() (err error) {
		text, err = r.logged(ctx, log, name, args...)
		return err
	})
	return func() error { return r.shown(text, j.wait()) }
}

// job is a function running in its own goroutine.
type job struct {
	done chan struct{}
	err  error
}

// goJob runs f in a goroutine of its own that Run waits for before it
// returns.
func (r *runner) goJob(f func() error) *job {
	j := &job{done: make(chan struct{})}
	r.jobs = append(r.jobs, j)
	go func() {
		defer close(j.done)
		j.err = f()
	}()
	return j
}

// wait waits until the function has returned; its error.
func (j *job) wait() error {
	<-j.done
	return j.err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func since(start time.Time) string { return time.Since(start).Round(time.Second).String() }
