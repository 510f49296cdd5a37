package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParsePIDFile(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		pid       int
		start     uint64
		wantError string
	}{
		{"pid and start time", "4247 390916\n", 4247, 390916, ""},
		{"a bare pid, as a shell script writes", "4247\n", 4247, 0, ""},
		{"no trailing newline", "12 34", 12, 34, ""},
		{"empty", "", 0, 0, "want \"PID [STARTTIME]\""},
		{"three fields", "1 2 3\n", 0, 0, "want \"PID [STARTTIME]\""},
		{"not a number", "nats\n", 0, 0, "bad PID"},
		{"zero", "0 5\n", 0, 0, "bad PID"},
		{"negative: kill(-1) would signal everything", "-1\n", 0, 0, "bad PID"},
		{"bad start time", "12 soon\n", 0, 0, "bad start time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, start, err := ParsePIDFile([]byte(tt.text))
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || pid != tt.pid || start != tt.start {
				t.Fatalf("got %d %d %v, want %d %d", pid, start, err, tt.pid, tt.start)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	// Fields 3..22 and on of a real line: state S, starttime (22) 390916.
	rest := " 1 4247 4247 0 -1 4194560 5290 0 0 0 250 50 0 0 20 0 12 0 390916 2008256000 7983"
	tests := []struct {
		name      string
		stat      string
		want      ProcStat
		wantError string
	}{
		{"running", "4247 (nats-server) S" + rest, ProcStat{'S', 390916}, ""},
		{"zombie, name with parentheses", "4247 (a (b) c) Z" + rest, ProcStat{'Z', 390916}, ""},
		{"no name", "4247 nats-server S 1", ProcStat{}, "no command name"},
		{"cut short", "4247 (x) S 1 2 3", ProcStat{}, "want at least 20"},
		{"bad start time", "4247 (x) S" + strings.Replace(rest, "390916", "x", 1), ProcStat{}, "start time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStat([]byte(tt.stat))
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err %v, want one saying %q", err, tt.wantError)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// detached starts sh -c script detached, logging to a file of its own, and
// kills it when the test ends.
func detached(t *testing.T, script string) *Proc {
	t.Helper()
	p, err := Start(Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, LogPath: filepath.Join(t.TempDir(), "sh.log"), Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.PID(), syscall.SIGKILL) })
	return p
}

func TestDetachedProcess(t *testing.T) {
	if _, err := Start(Spec{Name: "sh", Path: "/bin/sh", Detach: true}); err == nil {
		t.Fatal("a detached start without a log file succeeded")
	}
	p := detached(t, `echo "started $$"; exec sleep 60`)
	waitTail(t, p, fmt.Sprintf("started %d", p.PID())) // Tail reads the log file
	// Fields 4 and 6 of /proc/PID/stat: the parent and the session.
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID()))
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if want := []string{fmt.Sprint(os.Getpid()), fmt.Sprint(p.PID())}; f[1] != want[0] || f[3] != want[1] {
		t.Fatalf("parent %s, session %s; want this process's child (%s) in a session of its own (%s)", f[1], f[3], want[0], want[1])
	}
}

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	f := PIDFile(filepath.Join(dir, "sh.pid"))
	if pid, err := f.Running(); pid != 0 || err != nil {
		t.Fatalf("no file: running %d, %v; want 0, nil", pid, err)
	}
	if pid, err := f.Stop(time.Second); pid != 0 || err != nil {
		t.Fatalf("stop without a file: %d, %v; want 0, nil", pid, err)
	}
	p := detached(t, `echo ready; exec sleep 60`)
	if err := f.Write(p.PID()); err != nil {
		t.Fatal(err)
	}
	if pid, err := f.Running(); pid != p.PID() || err != nil {
		t.Fatalf("running %d, %v; want %d", pid, err, p.PID())
	}

	// The same PID with another start time is another process: never
	// signalled.
	st, err := ReadProcStat(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(string(f), fmt.Appendf(nil, "%d %d\n", p.PID(), st.Start+1), 0o644)
	if pid, err := f.Stop(time.Second); pid != 0 || err != nil {
		t.Fatalf("stop of a reused PID: %d, %v; want 0, nil", pid, err)
	}
	if exited, _ := p.Exited(); exited {
		t.Fatal("a process with a reused PID was stopped")
	}
	if _, err := os.Stat(string(f)); !os.IsNotExist(err) {
		t.Fatalf("a stale PID file is kept: %v", err)
	}

	if err := f.Write(p.PID()); err != nil {
		t.Fatal(err)
	}
	if pid, err := f.Stop(5 * time.Second); pid != p.PID() || err != nil {
		t.Fatalf("stop: %d, %v; want %d, nil", pid, err, p.PID())
	}
	if !exitsWithin(p, 5*time.Second) {
		t.Fatal("still running after Stop")
	}
	if _, err := os.Stat(string(f)); !os.IsNotExist(err) {
		t.Fatalf("PID file kept after Stop: %v", err)
	}

	// A process that ignores SIGTERM is killed, and Stop says so.
	p = detached(t, `trap '' TERM; echo ready; while :; do sleep 0.1; done`)
	waitTail(t, p, "ready")
	if err := f.Write(p.PID()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stop(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stop of a process ignoring SIGTERM: %v, want it to say it killed", err)
	}
	if !exitsWithin(p, 5*time.Second) {
		t.Fatal("still running after Stop killed it")
	}

	os.WriteFile(string(f), []byte("garbage\n"), 0o644)
	if _, err := f.Stop(time.Second); err == nil {
		t.Fatal("stop with an unreadable PID file succeeded")
	}
}

// exitsWithin reports whether p's exit is seen within d: Stop returns once
// the process is gone (a zombie counts as gone), and its parent — this test
// process — reaps it a moment later.
func exitsWithin(p *Proc, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if exited, _ := p.Exited(); exited {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
