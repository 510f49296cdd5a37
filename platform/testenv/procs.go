package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/evtrack/telemetry/platform/procs"
)

// MainBuilding is the TestMain of a package whose tests run the services as
// processes: it builds the main packages pkgs of the workspace at root
// (paths like ./services/ingest/cmd/ingest) once, into a temporary folder,
// sets *bins to their paths by binary name, runs the tests, removes the
// folder and exits with the tests' code. Under -short it builds nothing.
func MainBuilding(m *testing.M, bins *map[string]string, root string, pkgs ...string) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bins, err = procs.Build(context.Background(), root, dir, pkgs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Starter starts processes for t: each is killed when the test ends, and
// its last log lines are shown if the test failed.
func Starter(t testing.TB) procs.Starter {
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

// StartProc runs spec for the rest of the test (see Starter); a process
// that does not start fails the test.
func StartProc(t testing.TB, spec procs.Spec) *procs.Proc {
	t.Helper()
	p, err := Starter(t)(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Root is the workspace's root folder (where go.work is) above the test's
// working directory, the package's folder.
func Root(t testing.TB) string {
	t.Helper()
	root, err := procs.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// FreeAddr returns a 127.0.0.1:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := procs.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
