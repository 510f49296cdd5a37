// Package cluster runs the pipeline in cluster mode on this machine — a
// 3-node NATS JetStream cluster (the stream with 3 replicas), a 3-node
// OpenSearch cluster (1 replica), two ingest and two enrich processes — and
// strikes it under load: the stream's leader killed, an OpenSearch node
// holding a primary killed, one of two ingest instances killed. A client
// that retries as the SDK does (503 and no answer, the same event ids, its
// Retry-After) sends throughout; after each fault every event answered 202
// must be in OpenSearch exactly once, counted by distinct ids.
package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
)

// bins holds the service binaries, built once for the package.
var bins map[string]string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cluster-bin")
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
