package procs

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shell starts sh -c script in the test's group, stopped when the test ends.
func shell(t *testing.T, g *Group, script string, env map[string]string) *Proc {
	t.Helper()
	p, err := g.Start(Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", script}, Env: env, StopWithin: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignalRestartStop(t *testing.T) {
	g := &Group{}
	t.Cleanup(func() { g.StopAll() })
	p := shell(t, g, `echo "started $ONLY"; exec sleep 60`, map[string]string{"ONLY": "this"})
	waitTail(t, p, "started this")
	if err := p.Signal(syscall.SIGKILL); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("SIGKILL: exit %v, want killed", err)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	waitTail(t, p, "started this\nstarted this")
	if err := p.Restart(); err == nil {
		t.Fatal("restart of a running process succeeded")
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("SIGTERM stop: %v", err)
	}
	if got := p.Tail(5); got != "started this\nstarted this" {
		t.Fatalf("tail %q: want both runs' output with only the given environment", got)
	}
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	g := &Group{}
	p := shell(t, g, `trap '' TERM; echo ready; while :; do sleep 0.1; done`, nil)
	waitTail(t, p, "ready") // the trap is set once it has printed
	err := g.StopAll()
	if err == nil || !strings.Contains(err.Error(), "did not exit within 2s") {
		t.Fatalf("StopAll: %v, want it to say it killed sh", err)
	}
	if exited, _ := p.Exited(); !exited {
		t.Fatal("still running after StopAll")
	}
}

func TestOutputAndLog(t *testing.T) {
	g := &Group{}
	t.Cleanup(func() { g.StopAll() })
	log := filepath.Join(t.TempDir(), "tool.log")
	out, err := g.Output(context.Background(), Spec{Name: "tool", Path: "/bin/sh", Args: []string{"-c", `echo '{"n":1}'; echo progress >&2`}, LogPath: log})
	if err != nil || string(out) != "{\"n\":1}\n" {
		t.Fatalf("output %q, %v", out, err)
	}
	if b, _ := os.ReadFile(log); string(b) != "progress\n" {
		t.Fatalf("log %q, want stderr only", b)
	}
	_, err = g.Output(context.Background(), Spec{Name: "failing", Path: "/bin/sh", Args: []string{"-c", `echo why >&2; exit 3`}})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "why") {
		t.Fatalf("failing tool: %v, want its exit and its last words", err)
	}
}

func TestWaitHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + ln.Addr().String() + "/readyz"

	err = WaitHTTP(context.Background(), url, 300*time.Millisecond, OK)
	if err == nil || !strings.Contains(err.Error(), "not ready within 300ms (last: status 503") {
		t.Fatalf("not ready: %v", err)
	}
	if err := WaitHTTP(context.Background(), url, time.Second, Answering); err != nil {
		t.Fatalf("answering: %v", err)
	}
	close(ready)
	if err := WaitHTTP(context.Background(), url, time.Second, OK); err != nil {
		t.Fatalf("ready: %v", err)
	}

	g := &Group{}
	t.Cleanup(func() { g.StopAll() })
	p := shell(t, g, `echo cannot start; exit 1`, nil)
	free, _ := FreeAddr()
	err = p.WaitHTTP(context.Background(), "http://"+free+"/readyz", 10*time.Second, OK)
	if err == nil || !strings.Contains(err.Error(), "exited before") || !strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("exited process: %v, want the exit and its log", err)
	}
}

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds a binary")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src", "hello")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "src", "go.mod"), []byte("module example.com/x\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644)
	t.Setenv("GOWORK", "off")
	bins, err := Build(context.Background(), filepath.Join(dir, "src"), filepath.Join(dir, "bin"), "./hello")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bins["hello"]); err != nil {
		t.Fatalf("built %v: %v", bins, err)
	}
	if _, err := Build(context.Background(), filepath.Join(dir, "src"), filepath.Join(dir, "bin"), "./missing"); err == nil {
		t.Fatal("building a missing package succeeded")
	}
}

// waitTail waits until the process's last lines are want.
func waitTail(t *testing.T, p *Proc, want string) {
	t.Helper()
	n := strings.Count(want, "\n") + 1
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for p.Tail(n) != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want it to end with %q", p.Tail(n), want)
		}
		<-tick.C
	}
}

func TestStopCleanExits(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{"ended by SIGTERM", `echo ready; exec sleep 60`},
		{"exits 143 on SIGTERM, as a JVM does", `trap 'exit 143' TERM; echo ready; while :; do sleep 0.1; done`},
		{"exits 0 on SIGTERM", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Group{}
			t.Cleanup(func() { g.StopAll() })
			p := shell(t, g, tt.script, nil)
			waitTail(t, p, "ready")
			if err := p.Stop(); err != nil {
				t.Fatalf("stop: %v, want a clean stop", err)
			}
		})
	}
	g := &Group{}
	p := shell(t, g, `echo failing; exit 3`, nil)
	if err := p.Wait(context.Background()); err == nil {
		t.Fatal("a failing process waited cleanly")
	}
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("stop of a process that had failed on its own: %v, want its failure", err)
	}
}
