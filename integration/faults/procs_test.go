// Package faults runs the services as real processes on 127.0.0.1, injects
// faults under load — killed and restarted processes, a broker outage, a
// slow OpenSearch, hostile input — and checks the end-to-end accounting:
// every event answered 202 is in OpenSearch exactly once.
package faults

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bins holds the service binaries, built once for the package.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "faults-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, svc := range []string{"ingest", "enrich"} {
			out := filepath.Join(dir, svc)
			cmd := exec.Command("go", "build", "-o", out, "../../services/"+svc+"/cmd/"+svc)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build", svc, err)
				os.Exit(1)
			}
			bins[svc] = out
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// proc is a service process of a test.
type proc struct {
	t    *testing.T
	name string
	bin  string
	env  []string
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

// start runs bin with env (on top of PATH and HOME) and stops it at the end
// of the test.
func start(t *testing.T, name, bin string, env map[string]string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, bin: bin, env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}}
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	p.run()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", p.name, p.tail(30))
		}
	})
	return p
}

func (p *proc) run() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args()...)
	p.cmd.Env = p.env
	p.cmd.Stdout = &lockedWriter{mu: &p.mu, w: &p.log}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan error, 1)
	p.done = done
	go func() { done <- p.cmd.Wait() }()
}

func (p *proc) args() []string {
	if strings.HasPrefix(filepath.Base(p.bin), "nats-server") {
		for _, e := range p.env {
			if a, ok := strings.CutPrefix(e, "NATS_ARGS="); ok {
				return strings.Fields(a)
			}
		}
	}
	return nil
}

// restart starts the same command again.
func (p *proc) restart() { p.t.Helper(); p.run() }

// signal sends sig and waits (up to 30s) for the process to exit.
func (p *proc) signal(sig syscall.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err // keep it for a second caller
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("%s did not exit within 30s of %v", p.name, sig)
	}
}

// rssBytes is the process's resident set size.
func (p *proc) rssBytes() int64 { return p.statusBytes("VmRSS:") }

// statusBytes reads one kB field of /proc/PID/status, in bytes (0 if the
// process is gone).
func (p *proc) statusBytes(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(p.log.String()), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually polls cond every 100 ms until it holds; after within it fails
// the test with what was awaited and, if state is set, the last state seen.
// Only from the test's goroutine.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			last := ""
			if state != nil {
				last = " (last seen: " + state() + ")"
			}
			t.Fatalf("not %s within %s%s", what, within, last)
		}
		<-tick.C
	}
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string, within time.Duration) {
	t.Helper()
	eventually(t, within, url+" ready", func() bool { return status(url) == http.StatusOK }, nil)
}

// status is the HTTP status of a GET of url, 0 if it could not be had.
func status(url string) int {
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// metric sums the samples of the metric name on a Prometheus text endpoint
// whose labels include every one of labels (each `key="value"`); -1 if the
// endpoint does not answer.
func metric(url, name string, labels ...string) float64 {
	res, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		series, value, _ := strings.Cut(rest, " ") // `{labels} value` or ` value`
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && match {
			sum += v
		}
	}
	return sum
}
