package procs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/procs"
	"github.com/evtrack/telemetry/platform/testenv"
)

// TestStartNATSProfiler: a nats-server started with ProfAddr serves pprof
// there (the bench's CPU profile of the broker).
func TestStartNATSProfiler(t *testing.T) {
	t.Parallel()
	bin, err := procs.NATSServerBin("../..")
	if err != nil {
		t.Fatal(err)
	}
	prof, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s, err := procs.StartNATS(context.Background(), testenv.Starter(t), procs.NATSConfig{Bin: bin, Dir: t.TempDir(), ProfAddr: prof})
	if err != nil {
		t.Fatal(err)
	}
	if s.ProfAddr != prof {
		t.Fatalf("ProfAddr %q, want %q", s.ProfAddr, prof)
	}
	testenv.Eventually(t, 10*time.Second, "the broker's pprof listener answers", func() bool {
		res, err := http.Get("http://" + prof + "/debug/pprof/cmdline")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}
