package testrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/testenv"
)

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Mode
		err  string
	}{
		{in: "", want: All},
		{in: "all", want: All},
		{in: "faults", want: Faults},
		{in: "swift", want: Swift},
		{in: "unit", err: `no test mode "unit" (want all, faults, cluster, docker, deploy, swift)`},
	} {
		got, err := ParseMode(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseMode(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Every part runs in All, and each mode runs its part and nothing else.
func TestPlanFor(t *testing.T) {
	all := planFor(All)
	if !all.lint || !all.swift || !all.sdks || !all.cluster || !all.docker || !all.deploy || !all.fuzz || !slices.Equal(all.packages, []string{""}) {
		t.Errorf("all = %+v: a part is missing", all)
	}
	for _, tt := range []struct {
		mode Mode
		want plan
	}{
		{Faults, plan{packages: []string{"./integration/faults/..."}}},
		{Cluster, plan{cluster: true}},
		{Docker, plan{docker: true}},
		{Deploy, plan{packages: []string{"./integration/digitalocean/..."}, deploy: true}},
		{Swift, plan{packages: []string{"./integration/swift/...", "./contracts/fixtures/..."}, swift: true, fixtures: true}},
	} {
		got := planFor(tt.mode)
		if got.lint || got.fuzz || got.sdks {
			t.Errorf("%s runs the static checks, the fuzzing or the SDK installs: %+v", tt.mode, got)
		}
		if !slices.Equal(got.packages, tt.want.packages) || got.swift != tt.want.swift || got.fixtures != tt.want.fixtures ||
			got.cluster != tt.want.cluster || got.docker != tt.want.docker || got.deploy != tt.want.deploy {
			t.Errorf("planFor(%s) = %+v, want %+v", tt.mode, got, tt.want)
		}
	}
}

func TestTogether(t *testing.T) {
	listed := `github.com/evtrack/telemetry/integration/cluster
github.com/evtrack/telemetry/integration/docker
github.com/evtrack/telemetry/integration/dockerfiles
github.com/evtrack/telemetry/integration/faults
github.com/evtrack/telemetry/services/ingest/internal/track
`
	want := []string{
		"github.com/evtrack/telemetry/integration/dockerfiles",
		"github.com/evtrack/telemetry/integration/faults",
		"github.com/evtrack/telemetry/services/ingest/internal/track",
	}
	if got := together(listed); !slices.Equal(got, want) {
		t.Errorf("together = %q, want %q", got, want)
	}
}

func TestClusterSummary(t *testing.T) {
	log := `=== RUN   TestClusterFaults
    stack_test.go:40: starting
TestClusterFaults/leader: accepted 1000, indexed 1000, lost 0
--- PASS: TestClusterFaults (90.1s)
PASS
ok  	github.com/evtrack/telemetry/integration/cluster	91.2s
`
	want := `TestClusterFaults/leader: accepted 1000, indexed 1000, lost 0
--- PASS: TestClusterFaults (90.1s)
ok  	github.com/evtrack/telemetry/integration/cluster	91.2s
`
	if got := clusterSummary(log); got != want {
		t.Errorf("clusterSummary =\n%s\nwant\n%s", got, want)
	}
}

func TestLoggedCommands(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r := &runner{root: root, out: &out, env: append(os.Environ(), "WHO=servers")}
	ctx := context.Background()

	t.Run("passes: its log is returned, nothing shown", func(t *testing.T) {
		out.Reset()
		log, err := r.logged(ctx, "ok.log", "sh", "-c", `echo "hello $WHO"; echo to-stderr >&2`)
		if err := r.shown(log, err); err != nil {
			t.Fatal(err)
		}
		if log != "hello servers\nto-stderr\n" || out.Len() != 0 {
			t.Errorf("log %q, shown %q", log, out.String())
		}
		if b, _ := os.ReadFile(filepath.Join(root, ".cache", "ok.log")); string(b) != log {
			t.Errorf(".cache/ok.log = %q, want the log", b)
		}
	})
	t.Run("fails in the background: its log is shown when waited for", func(t *testing.T) {
		out.Reset()
		wait := r.background(ctx, "bad.log", "sh", "-c", `echo "it broke"; exit 3`)
		err := wait()
		var exit interface{ ExitCode() int }
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("error = %v, want exit status 3", err)
		}
		if out.String() != "it broke\n" {
			t.Errorf("shown %q, want the log", out.String())
		}
	})
	t.Run("a cancelled context interrupts the command", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		wait := r.background(ctx, "long.log", "sh", "-c", `trap 'echo interrupted; exit 130' INT; echo started; while :; do sleep 0.05; done`)
		testenv.Eventually(t, 10*time.Second, "the command started", func() bool {
			b, _ := os.ReadFile(filepath.Join(root, ".cache", "long.log"))
			return string(b) == "started\n"
		})
		cancel()
		if err := wait(); err == nil {
			t.Fatal("the command ended without an error")
		}
		if b, _ := os.ReadFile(filepath.Join(root, ".cache", "long.log")); !strings.Contains(string(b), "interrupted") {
			t.Errorf("log %q: the command was not sent SIGINT", b)
		}
	})
}
