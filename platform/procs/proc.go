// Package procs runs the platform's binaries as real processes on this
// machine: it builds them, starts them with an environment of their own on
// free loopback ports, waits for them to be ready (failing with what it saw),
// signals, kills and restarts them, reads their CPU time and memory from
// /proc, keeps the tail of their output, and stops by PID everything it
// started. The fault tests (integration/faults) and the benchmark
// (tools/cmd/bench) share it, and the development servers (tools/cmd/servers)
// start detached processes with it that a PID file names for a later stop.
package procs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultStopWithin is how long Signal and Stop wait for a process to exit
// before they kill it.
const DefaultStopWithin = 30 * time.Second

// Spec is one process to run.
type Spec struct {
	Name string   // in messages and log lines
	Path string   // the binary
	Args []string // its arguments
	// Env is the whole environment on top of PATH and HOME: nothing else of
	// the caller's environment leaks into the process.
	Env map[string]string
	Dir string // working directory; empty: the caller's
	// LogPath, if set, receives stdout and stderr too (appended, so a
	// restarted process continues its file).
	LogPath string
	// Stdout, if set, receives stdout instead of the log (a tool whose
	// output is its result); stderr still goes to the log.
	Stdout io.Writer
	// User, if set, is the system user the process runs as (OpenSearch
	// refuses to run as root).
	User string
	// StopWithin bounds Signal and Stop; 0 means DefaultStopWithin.
	StopWithin time.Duration
	// Detach lets the process outlive its owner (a server that a later
	// command stops through a PIDFile): it gets a session of its own and no
	// death signal, and its output goes straight into LogPath, which it
	// requires; Tail reads that file.
	Detach bool
}

// Proc is a started process. Its methods are safe for concurrent use.
type Proc struct {
	spec Spec
	tail *tailBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited
	err  error         // the current run's exit, once done is closed
}

// Start runs spec.
func Start(spec Spec) (*Proc, error) {
	if spec.StopWithin == 0 {
		spec.StopWithin = DefaultStopWithin
	}
	p := &Proc{spec: spec, tail: newTailBuffer(256 << 10)}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p, nil
}

// Name is the spec's name.
func (p *Proc) Name() string { return p.spec.Name }

// PID is the process id of the current run.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

func (p *Proc) run() error {
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range p.spec.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group: a Ctrl-C at the terminal reaches the owner,
	// which stops its processes in order; the kernel kills them if the
	// owner dies without doing so. A detached process has its own session
	// instead, and nothing kills it with its owner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.spec.Detach {
		if p.spec.LogPath == "" {
			return fmt.Errorf("start %s: a detached process needs a LogPath", p.spec.Name)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if p.spec.User != "" {
		cred, err := Credential(p.spec.User)
		if err != nil {
			return fmt.Errorf("start %s: %w", p.spec.Name, err)
		}
		cmd.SysProcAttr.Credential = cred
	}
	var out io.Writer = p.tail
	var logFile *os.File
	if p.spec.LogPath != "" {
		f, err := os.OpenFile(p.spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("start %s: log: %w", p.spec.Name, err)
		}
		logFile = f
		out = io.MultiWriter(p.tail, f)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if p.spec.Stdout != nil {
		cmd.Stdout = p.spec.Stdout
	}
	if p.spec.Detach {
		// The file itself, not a pipe through this process: the output
		// must keep its place once the owner has exited.
		cmd.Stdout, cmd.Stderr = logFile, logFile
	}
	// Output still held open by a child of the process does not block Wait.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return fmt.Errorf("start %s (%s): %w", p.spec.Name, p.spec.Path, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Credential is the user name's uid, gid and groups, to run a process as
// (as setpriv --init-groups does).
func Credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("user %s: groups: %w", name, err)
	}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %s: group %q: %w", name, id, err)
		}
		cred.Groups = append(cred.Groups, uint32(g))
	}
	return cred, nil
}

// current returns the current run's exit channel and command.
func (p *Proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// Done is closed when the current run has exited.
func (p *Proc) Done() <-chan struct{} {
	_, done := p.current()
	return done
}

// Restart starts the same command again; the process must have exited.
func (p *Proc) Restart() error {
	if _, done := p.current(); !isClosed(done) {
		return fmt.Errorf("restart %s: still running (pid %d)", p.spec.Name, p.PID())
	}
	return p.run()
}

// Exited reports whether the current run has ended, and how.
func (p *Proc) Exited() (bool, error) {
	_, done := p.current()
	if !isClosed(done) {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return true, p.err
}

// Signal sends sig and waits (up to the spec's StopWithin) for the process
// to exit. It returns the exit (nil for status 0) — or, if the process did
// not exit in time, kills it and says so. A process that has already exited
// is not signalled again; its exit is returned.
func (p *Proc) Signal(sig syscall.Signal) error {
	cmd, done := p.current()
	if !isClosed(done) {
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		_, err := p.Exited()
		return err
	case <-time.After(p.spec.StopWithin):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s (pid %d) did not exit within %s of %v; killed", p.spec.Name, cmd.Process.Pid, p.spec.StopWithin, sig)
	}
}

// Stop ends the process with SIGTERM (SIGKILL after StopWithin). An exit
// caused by the signal is a clean stop; an error says the process had to be
// killed or had failed on its own.
func (p *Proc) Stop() error {
	_, done := p.current()
	wasRunning := !isClosed(done)
	err := p.Signal(syscall.SIGTERM)
	var exit *exec.ExitError
	if wasRunning && errors.As(err, &exit) {
		// Ended by the signal, or exited with 128+15 as a JVM does on it.
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ((ws.Signaled() && ws.Signal() == syscall.SIGTERM) || ws.ExitStatus() == 128+int(syscall.SIGTERM)) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", p.spec.Name, err)
	}
	return nil
}

// Wait waits for the process to exit by itself (a tool that does one job);
// if ctx ends first it kills the process and returns ctx's error.
func (p *Proc) Wait(ctx context.Context) error {
	cmd, done := p.current()
	select {
	case <-done:
		if _, err := p.Exited(); err != nil {
			return fmt.Errorf("%s: %w\n%s", p.spec.Name, err, p.Tail(20))
		}
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s: %w", p.spec.Name, ctx.Err())
	}
}

// Tail is the last n lines of the process's output (all of its runs; of a
// detached process, the end of its log file).
func (p *Proc) Tail(n int) string {
	if p.spec.Detach {
		return fileTail(p.spec.LogPath, n)
	}
	return p.tail.lines(n)
}

// Memory reads the process's VmRSS and VmHWM from /proc/PID/status.
func (p *Proc) Memory() (Memory, error) { return ReadMemory(p.PID()) }

// CPUTime reads the user and system CPU time the process has used from
// /proc/PID/stat.
func (p *Proc) CPUTime() (time.Duration, error) { return ReadCPUTime(p.PID()) }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
