package procs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PIDFile is the path of a file that names a detached process, so that a
// later command can find it and stop it. It holds "PID STARTTIME": the
// process's start time (field 22 of /proc/PID/stat) tells it apart from a
// later process that reuses its PID, which is never signalled. A file with
// the PID alone (as shell scripts write) is trusted as it is.
type PIDFile string

// Write records pid, with its start time.
func (f PIDFile) Write(pid int) error {
	st, err := ReadProcStat(pid)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", f, err)
	}
	if err := os.WriteFile(string(f), fmt.Appendf(nil, "%d %d\n", pid, st.Start), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// Running is the PID of the process the file names if that process still
// runs; 0 if there is no file or the process has gone (exited, a zombie, or
// its PID now belongs to another process).
func (f PIDFile) Running() (int, error) {
	pid, _, err := f.running()
	return pid, err
}

// running is Running with the start time the file records.
func (f PIDFile) running() (int, uint64, error) {
	b, err := os.ReadFile(string(f))
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("pid file: %w", err)
	}
	pid, start, err := ParsePIDFile(b)
	if err != nil {
		return 0, 0, fmt.Errorf("pid file %s: %w", f, err)
	}
	if !running(pid, start) {
		return 0, 0, nil
	}
	return pid, start, nil
}

// Remove deletes the file; a missing file is not an error.
func (f PIDFile) Remove() error {
	if err := os.Remove(string(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// Stop ends the process the file names, if it still runs, with SIGTERM —
// SIGKILL if it has not exited within — and removes the file. It returns the
// PID it stopped (0: nothing ran) and an error if it had to kill.
func (f PIDFile) Stop(within time.Duration) (int, error) {
	pid, start, err := f.running()
	if err != nil || pid == 0 {
		if err == nil {
			err = f.Remove()
		}
		return 0, err
	}
	gone := func(wait time.Duration) bool {
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if !running(pid, start) {
				return true
			}
		}
		return !running(pid, start)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	var killed error
	if !gone(within) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		killed = fmt.Errorf("pid %d did not exit within %s of SIGTERM; killed", pid, within)
		if !gone(5 * time.Second) {
			return pid, fmt.Errorf("pid %d survives SIGKILL", pid)
		}
	}
	return pid, errors.Join(killed, f.Remove())
}

// ParsePIDFile reads "PID STARTTIME" (or a bare PID, start 0) out of a PID
// file's text.
func ParsePIDFile(b []byte) (pid int, start uint64, err error) {
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f) > 2 {
		return 0, 0, fmt.Errorf("want \"PID [STARTTIME]\", have %q", b)
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("bad PID %q", f[0])
	}
	if len(f) == 2 {
		if start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("bad start time %q", f[1])
		}
	}
	return pid, start, nil
}

// ProcStat is what a PID file needs of /proc/PID/stat.
type ProcStat struct {
	State byte   // R, S, D, Z (zombie), X (dead), ...
	Start uint64 // clock ticks after boot
}

// ReadProcStat reads /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("stat of pid %d: %w", pid, err)
	}
	return ParseProcStat(b)
}

// ParseProcStat reads the state (field 3) and start time (field 22) out of
// the text of /proc/PID/stat, counting fields after the command name's last
// ')' as ParseStat does.
func ParseProcStat(b []byte) (ProcStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("stat: %d fields after the command name, want at least 20", len(f))
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("stat: start time %q: %w", f[19], err)
	}
	return ProcStat{State: f[0][0], Start: start}, nil
}

// running says whether pid is a live process (not a zombie) that started at
// start (0: any start).
func running(pid int, start uint64) bool {
	st, err := ReadProcStat(pid)
	if err != nil || st.State == 'Z' || st.State == 'X' {
		return false
	}
	return start == 0 || st.Start == start
}
