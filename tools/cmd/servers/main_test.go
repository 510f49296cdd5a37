package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/evtrack/telemetry/platform/procs"
)

// build compiles the command once for the tests that run it.
var build = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "servers-cmd")
	if err != nil {
		return "", err
	}
	bins, err := procs.Build(context.Background(), "../../..", dir, "./tools/cmd/servers")
	return bins["servers"], err
})

// env is the environment of one test's servers: free loopback ports, so
// that the servers `make test` shares are never touched.
func env(t *testing.T) map[string]string {
	t.Helper()
	port := func() string {
		a, err := procs.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := procs.Port(a)
		return fmt.Sprint(p)
	}
	return map[string]string{"NATS_URL": "nats://127.0.0.1:" + port(), "NATS_MONITOR_PORT": port(),
		"OPENSEARCH_URL": "http://127.0.0.1:" + port(), "OPENSEARCH_HEAP": "512m"}
}

// command runs the command and returns its stdout and stderr.
func command(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustRun runs the command and fails the test if it fails.
func mustRun(t *testing.T, env map[string]string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := command(t, env, args...)
	if err != nil {
		t.Fatalf("servers %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// runningPID is the PID that dir's PID file for name names, 0 if none runs.
func runningPID(t *testing.T, dir, name string) int {
	t.Helper()
	pid, err := procs.PIDFile(filepath.Join(dir, name+".pid")).Running()
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// alive says whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, err := procs.ReadProcStat(pid)
	return err == nil && st.State != 'Z'
}

func TestStartStatusStopNATS(t *testing.T) {
	e, run := env(t), t.TempDir()
	t.Cleanup(func() { command(t, e, "-run", run, "stop") })
	status := func(want string) {
		t.Helper()
		if out, _ := mustRun(t, e, "-run", run, "status"); out != want {
			t.Fatalf("status:\n%s\nwant:\n%s", out, want)
		}
	}
	status(fmt.Sprintf("nats: down at %s\nopensearch: down at %s\n", e["NATS_URL"], e["OPENSEARCH_URL"]))

	_, log := mustRun(t, e, "-run", run, "start", "nats")
	if !strings.Contains(log, "servers: starting nats-server") || !strings.Contains(log, "servers: nats is ready") {
		t.Fatalf("start said:\n%s", log)
	}
	// The command has exited; the server it started runs on, detached.
	pid := runningPID(t, run, "nats")
	if pid == 0 {
		t.Fatal("no running nats-server in the PID file after start")
	}
	status(fmt.Sprintf("nats: up at %s\nopensearch: down at %s\n", e["NATS_URL"], e["OPENSEARCH_URL"]))

	// Another invocation (its own run folder) uses the server that answers,
	// and its stop never ends what it did not start.
	other := t.TempDir()
	if _, log := mustRun(t, e, "-run", other, "start", "nats"); !strings.Contains(log, "servers: nats already answers at "+e["NATS_URL"]+"; using it") {
		t.Fatalf("second start said:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(other, "nats.pid")); !os.IsNotExist(err) {
		t.Fatalf("a server found running got a PID file: %v", err)
	}
	mustRun(t, e, "-run", other, "stop")
	if runningPID(t, run, "nats") != pid {
		t.Fatal("stop of an invocation that did not start nats-server stopped it")
	}

	if _, log := mustRun(t, e, "-run", run, "stop"); !strings.Contains(log, fmt.Sprintf("servers: stopping nats (pid %d)", pid)) {
		t.Fatalf("stop said:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(run, "nats.pid")); !os.IsNotExist(err) {
		t.Fatalf("PID file kept after stop: %v", err)
	}
	if alive(pid) {
		t.Fatalf("pid %d still runs after stop", pid)
	}
	status(fmt.Sprintf("nats: down at %s\nopensearch: down at %s\n", e["NATS_URL"], e["OPENSEARCH_URL"]))
}

func TestStartFailsWithTheServersLastWords(t *testing.T) {
	e, run := env(t), t.TempDir()
	fake := filepath.Join(t.TempDir(), "nats-server")
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'nats-server: cannot start: config broken' >&2\nexit 1\n"), 0o755)
	e["NATS_SERVER_BIN"] = fake
	_, log, err := command(t, e, "-run", run, "start", "nats")
	if err == nil {
		t.Fatalf("start of a server that exits succeeded:\n%s", log)
	}
	for _, want := range []string{"start nats (log " + filepath.Join(run, "nats.log") + "):", "exited before", "cannot start: config broken"} {
		if !strings.Contains(log, want) {
			t.Fatalf("start said:\n%s\nwant %q in it", log, want)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "nats.pid")); !os.IsNotExist(err) {
		t.Fatalf("a failed start left its PID file: %v", err)
	}
	if _, _, err := command(t, e, "start", "redis"); err == nil {
		t.Fatal("start of an unknown server succeeded")
	}
}

// TestStartStatusStopOpenSearch starts a node of its own (10–30 s), as the
// unprivileged user when the tests run as root.
func TestStartStatusStopOpenSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts an OpenSearch node")
	}
	e, run := env(t), t.TempDir()
	where, _ := mustRun(t, e, "opensearch-home")
	base := ""
	for _, l := range strings.Split(where, "\n") {
		if v, ok := strings.CutPrefix(l, "OPENSEARCH_BASE="); ok {
			base = v
		}
	}
	if base == "" {
		t.Fatalf("opensearch-home said %q", where)
	}
	port := e["OPENSEARCH_URL"][strings.LastIndex(e["OPENSEARCH_URL"], ":")+1:]
	t.Cleanup(func() {
		command(t, e, "-run", run, "stop")
		os.RemoveAll(filepath.Join(base, "data-"+port))
		os.RemoveAll(filepath.Join(base, "logs-"+port))
	})

	mustRun(t, e, "-run", run, "start", "opensearch")
	if out, _ := mustRun(t, e, "-run", run, "status", "opensearch"); out != "opensearch: up at "+e["OPENSEARCH_URL"]+"\n" {
		t.Fatalf("status: %q", out)
	}
	pid := runningPID(t, run, "opensearch")
	if pid == 0 {
		t.Fatal("no running OpenSearch in the PID file after start")
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("opensearch")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if !strings.Contains(string(b), "\nUid:\t"+u.Uid+"\t") {
			t.Fatalf("OpenSearch does not run as opensearch (uid %s):\n%s", u.Uid, b)
		}
	}
	if _, log := mustRun(t, e, "-run", run, "stop"); !strings.Contains(log, fmt.Sprintf("servers: stopping opensearch (pid %d)", pid)) {
		t.Fatalf("stop said:\n%s", log)
	}
	if alive(pid) {
		t.Fatalf("OpenSearch (pid %d) runs after stop", pid)
	}
	if out, _ := mustRun(t, e, "-run", run, "status", "opensearch"); out != "opensearch: down at "+e["OPENSEARCH_URL"]+"\n" {
		t.Fatalf("status after stop: %q", out)
	}
}
