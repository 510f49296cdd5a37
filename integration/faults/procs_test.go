// Package faults runs the services as real processes on 127.0.0.1, injects
// faults under load — killed and restarted processes, a broker outage, a
// slow OpenSearch, hostile input — and checks the end-to-end accounting:
// every event answered 202 is in OpenSearch exactly once.
package faults

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/promscrape"
)

// bins holds the service binaries, built once for the package.
var bins map[string]string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "faults-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = procs.Build(context.Background(), "../..", dir, "./services/ingest/cmd/ingest", "./services/enrich/cmd/enrich")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// starter starts processes for t: each is killed when the test ends, and
// its last log lines are shown if the test failed.
func starter(t *testing.T) procs.Starter {
	return func(spec procs.Spec) (*procs.Proc, error) {
		p, err := procs.Start(spec)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			p.Signal(syscall.SIGKILL)
			if t.Failed() {
				t.Logf("%s log (tail):\n%s", p.Name(), p.Tail(30))
			}
		})
		return p, nil
	}
}

// start runs spec for the test (see starter).
func start(t *testing.T, spec procs.Spec) *procs.Proc {
	t.Helper()
	p, err := starter(t)(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// restart starts p's command again.
func restart(t *testing.T, p *procs.Proc) {
	t.Helper()
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
}

// rssBytes is the process's resident set size (VmRSS), 0 if it is gone.
func rssBytes(p *procs.Proc) int64 {
	m, _ := p.Memory()
	return m.RSS
}

// peakRSSBytes is the process's peak resident set size (VmHWM), 0 if it is
// gone.
func peakRSSBytes(p *procs.Proc) int64 {
	m, _ := p.Memory()
	return m.Peak
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
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
	if err := procs.WaitHTTP(context.Background(), url, within, procs.OK); err != nil {
		t.Fatal(err)
	}
}

// waitProcReady polls p's url until it answers 200; it fails at once if p
// exits, with p's last log lines.
func waitProcReady(t *testing.T, p *procs.Proc, url string, within time.Duration) {
	t.Helper()
	if err := p.WaitHTTP(context.Background(), url, within, procs.OK); err != nil {
		t.Fatal(err)
	}
}

// metric sums the samples of the metric name on a Prometheus text endpoint
// that carry every one of labels; -1 if the endpoint does not answer.
func metric(url, name string, labels promscrape.Labels) float64 {
	fams, err := promscrape.Scrape(context.Background(), &http.Client{Timeout: 5 * time.Second}, url)
	if err != nil {
		return -1
	}
	sum, _ := fams.Sum(name, labels)
	return sum
}
