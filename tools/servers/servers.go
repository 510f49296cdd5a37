// Package servers starts, stops and reports on the two real servers the
// platform needs on a development machine or in CI: nats-server with
// JetStream (pinned in scripts/versions.env, installed from its Go module
// by scripts/tools.sh) and a single-node OpenSearch (the integ-test zip
// from Maven Central), for `make run`, `make test` and tools/cmd/bench.
//
// They are detached: they outlive the command that started them, which
// records each in a PID file under Config.RunDir, so that a later Stop ends
// them. A server that already answers at its URL is used as it is, and
// never stopped: Stop ends only what a PID file names.
package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
)

// The servers by name, in the order they start and report; Stop goes the
// other way.
const (
	NATS       = "nats"
	OpenSearch = "opensearch"
)

// Names are every server's name.
var Names = []string{NATS, OpenSearch}

// readyWithin bounds each server's start: nats-server is up in well under
// a second, OpenSearch's JVM in 10–20 s on two cores.
var readyWithin = map[string]time.Duration{NATS: 30 * time.Second, OpenSearch: 3 * time.Minute}

// stopWithin bounds a stop before the server is killed.
const stopWithin = 30 * time.Second

// Log writes "servers: ..." progress lines, one at a time.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog writes to w.
func NewLog(w io.Writer) *Log { return &Log{w: w} }

// Printf writes one line.
func (l *Log) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "servers: "+format+"\n", args...)
}

// Select checks server names; none means all.
func Select(names []string) ([]string, error) {
	if len(names) == 0 {
		return Names, nil
	}
	for _, n := range names {
		if !slices.Contains(Names, n) {
			return nil, fmt.Errorf("no server %q (want %s)", n, strings.Join(Names, ", "))
		}
	}
	return names, nil
}

// Status writes "NAME: up at URL" or "NAME: down at URL" for each server.
func Status(ctx context.Context, cfg Config, w io.Writer, names ...string) {
	for _, n := range names {
		state := "down"
		if answers(ctx, health(cfg, n)) {
			state = "up"
		}
		fmt.Fprintf(w, "%s: %s at %s\n", n, state, serverURL(cfg, n))
	}
}

// Start starts the named servers that do not answer yet, at once, and waits
// until each is ready. It returns the names of those it started.
func Start(ctx context.Context, cfg Config, l *Log, names ...string) ([]string, error) {
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	started := make([]bool, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { started[i], errs[i] = startOne(ctx, cfg, l, n) })
	}
	wg.Wait()
	var did []string
	for i, n := range names {
		if started[i] {
			did = append(did, n)
		}
	}
	return did, errors.Join(errs...)
}

// Stop stops the named servers that a PID file says this package started,
// OpenSearch first.
func Stop(cfg Config, l *Log, names ...string) error {
	var errs []error
	for _, n := range slices.Backward(names) {
		f := pidFile(cfg, n)
		pid, err := f.Running()
		if pid != 0 {
			l.Printf("stopping %s (pid %d)", n, pid)
		}
		if err == nil {
			_, err = f.Stop(stopWithin)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

func startOne(ctx context.Context, cfg Config, l *Log, name string) (bool, error) {
	if answers(ctx, health(cfg, name)) {
		l.Printf("%s already answers at %s; using it", name, serverURL(cfg, name))
		return false, nil
	}
	f := pidFile(cfg, name)
	if pid, err := f.Running(); err != nil {
		return false, err
	} else if pid != 0 {
		l.Printf("%s (pid %d) was started earlier and does not answer yet; waiting for it", name, pid)
		if err := procs.WaitHTTPPID(ctx, f, health(cfg, name), readyWithin[name], procs.OK); err != nil {
			return false, fmt.Errorf("%s (pid %d): %w; see %s", name, pid, err, logPath(cfg, name))
		}
		l.Printf("%s is ready", name)
		return false, nil
	}
	// A detached start that records the process; a failed start is undone.
	var proc *procs.Proc
	starter := func(spec procs.Spec) (*procs.Proc, error) {
		spec.Detach, spec.LogPath = true, logPath(cfg, name)
		if err := os.Remove(spec.LogPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		p, err := procs.Start(spec)
		if err != nil {
			return nil, err
		}
		proc = p
		if err := f.Write(p.PID()); err != nil && !gone(err) {
			return p, err
		}
		// A server already gone has nothing to record: the readiness
		// wait reports its exit and its last words.
		return p, nil
	}
	var err error
	if name == NATS {
		err = startNATS(ctx, cfg, l, starter)
	} else {
		err = startOpenSearch(ctx, cfg, l, starter)
	}
	if err != nil {
		if proc != nil {
			_ = proc.Stop()
			_ = f.Remove()
		}
		return false, fmt.Errorf("start %s (log %s): %w", name, logPath(cfg, name), err)
	}
	l.Printf("%s is ready", name)
	return proc != nil, nil
}

// gone reports whether err says the process it was about no longer exists.
func gone(err error) bool { return errors.Is(err, syscall.ESRCH) || errors.Is(err, fs.ErrNotExist) }

func startNATS(ctx context.Context, cfg Config, l *Log, start procs.Starter) error {
	bin, err := natsServerBin(ctx, cfg, l)
	if err != nil {
		return err
	}
	l.Printf("starting nats-server %s on %s", cfg.Versions["NATS_SERVER_VERSION"], cfg.NATSURL)
	_, err = procs.StartNATS(ctx, start, procs.NATSConfig{
		Bin: bin, Dir: cfg.RunDir, Addr: cfg.natsAddr(), MonitorPort: cfg.NATSMonitorPort,
		StoreDir: filepath.Join(cfg.RunDir, "nats-data"), Ready: readyWithin[NATS],
	})
	return err
}

// natsServerBin is NATS_SERVER_BIN if it is there, else the pinned
// nats-server, installed by scripts/tools.sh if needed.
func natsServerBin(ctx context.Context, cfg Config, l *Log) (string, error) {
	if cfg.NATSBin != "" {
		if _, err := os.Stat(cfg.NATSBin); err == nil {
			return cfg.NATSBin, nil
		}
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(cfg.Root, "scripts", "tools.sh"), "nats")
	cmd.Stdout, cmd.Stderr = l.w, l.w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install nats-server (scripts/tools.sh nats): %w", err)
	}
	bin := procs.PinnedNATSServer(cfg.Root)
	if cfg.NATSBin != "" {
		bin = cfg.NATSBin
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("nats-server: %w", err)
	}
	return bin, nil
}

func startOpenSearch(ctx context.Context, cfg Config, l *Log, start procs.Starter) error {
	o, err := InstallOpenSearch(ctx, cfg, l)
	if err != nil {
		return err
	}
	addr := cfg.openSearchAddr()
	_, port, _ := net.SplitHostPort(addr)
	data, logs := filepath.Join(o.Base, "data-"+port), filepath.Join(o.Base, "logs-"+port)
	l.Printf("starting OpenSearch %s on %s (heap %s, data %s)", cfg.Versions["OPENSEARCH_VERSION"], cfg.OpenSearchURL, cfg.OpenSearchHeap, data)
	_, err = procs.StartOpenSearch(ctx, start, procs.OpenSearchConfig{
		Home: o.Home, JavaHome: o.JavaHome, User: o.User, DataDir: data, LogsDir: logs,
		Heap: cfg.OpenSearchHeap, Addr: addr, Ready: readyWithin[OpenSearch],
	})
	return err
}

func pidFile(cfg Config, name string) procs.PIDFile {
	return procs.PIDFile(filepath.Join(cfg.RunDir, name+".pid"))
}

func logPath(cfg Config, name string) string { return filepath.Join(cfg.RunDir, name+".log") }

func serverURL(cfg Config, name string) string {
	if name == NATS {
		return cfg.NATSURL
	}
	return cfg.OpenSearchURL
}

func health(cfg Config, name string) string {
	if name == NATS {
		return cfg.natsHealth()
	}
	return cfg.openSearchHealth()
}

// answers says whether url answers 200 now.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}
