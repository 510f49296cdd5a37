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

	"github.com/evtrack/telemetry/platform/procs"
)

// TestStartReportsWhatItStarted: Start says which servers it started, so
// that `make run` stops those and no others.
func TestStartReportsWhatItStarted(t *testing.T) {
	port := func() int {
		a, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := procs.Port(a)
		return p
	}
	env := map[string]string{"NATS_URL": fmt.Sprintf("nats://127.0.0.1:%d", port()), "NATS_MONITOR_PORT": fmt.Sprint(port())}
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
