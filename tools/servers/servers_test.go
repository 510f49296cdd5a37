package servers

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
)

// testConfig is the configuration of a test's own servers: free ports, its
// own run folder.
func testConfig(t *testing.T) Config {
	t.Helper()
	port := func() int {
		a, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := procs.Port(a)
		return p
	}
	env := map[string]string{"NATS_URL": fmt.Sprintf("nats://127.0.0.1:%d", port()), "NATS_MONITOR_PORT": fmt.Sprint(port()),
		"OPENSEARCH_URL": fmt.Sprintf("http://127.0.0.1:%d", port())}
	cfg, err := Load(func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}, filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RunDir = t.TempDir()
	return cfg
}

// TestStartWaitsForAServerStartedEarlier: a server a PID file names that
// does not answer yet (another start of it is under way) is waited for,
// not started a second time, and its end fails the wait at once.
func TestStartWaitsForAServerStartedEarlier(t *testing.T) {
	cfg := testConfig(t)
	p, err := procs.Start(procs.Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"60"}, LogPath: filepath.Join(cfg.RunDir, "nats.log"), Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := procs.PIDFile(filepath.Join(cfg.RunDir, "nats.pid")).Write(p.PID()); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	done := make(chan error, 1)
	go func() { _, err := Start(context.Background(), cfg, NewLog(&log), NATS); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("start did not wait: %v\n%s", err, log.String())
	case <-time.After(500 * time.Millisecond):
	}
	p.Stop()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Fatalf("start after the earlier server ended: %v", err)
	}
	if want := fmt.Sprintf("servers: nats (pid %d) was started earlier and does not answer yet; waiting for it", p.PID()); !strings.Contains(log.String(), want) {
		t.Fatalf("start said:\n%s\nwant %q", log.String(), want)
	}
}

// TestStartReportsWhatItStarted: Start says which servers it started, so
// that `make run` stops those and no others.
func TestStartReportsWhatItStarted(t *testing.T) {
	cfg := testConfig(t)
	var log strings.Builder
	l := NewLog(&log)
	t.Cleanup(func() { Stop(cfg, NewLog(io.Discard), NATS) })

	started, err := Start(context.Background(), cfg, l, NATS)
	if err != nil || !slices.Equal(started, []string{NATS}) {
		t.Fatalf("first start: %v, %v; want [nats]\n%s", started, err, log.String())
	}
	started, err = Start(context.Background(), cfg, l, NATS)
	if err != nil || len(started) != 0 {
		t.Fatalf("second start: %v, %v; want nothing started\n%s", started, err, log.String())
	}
	if err := Stop(cfg, l, NATS); err != nil {
		t.Fatal(err)
	}
	var status strings.Builder
	Status(context.Background(), cfg, &status, NATS)
	if want := "nats: down at " + cfg.NATSURL + "\n"; status.String() != want {
		t.Fatalf("status after stop %q, want %q", status.String(), want)
	}
}
