package testenv

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures and cleanups instead of
// acting on them; its FailNow ends the calling goroutine, as testing's does.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.Errorf(format, a...)
	runtime.Goexit()
}

// endTest runs r's cleanups, last registered first, as the end of a test does.
func (r *recorder) endTest() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// inGoroutine runs f as a test body would run: FailNow ends it.
func inGoroutine(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

// TestEventually: the check runs until it holds, at once first; one that
// never holds fails the test after about `within`, saying what was awaited
// and, for EventuallyState, what the last check saw.
func TestEventually(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		trueAfter int32 // checks before cond holds; -1: never
		wantFail  string
	}{
		{"holds at once", 0, ""},
		{"holds after a few checks", 3, ""},
		{"never holds", -1, "timed out after 100ms waiting for: the thing"},
	}
	for _, withState := range []bool{false, true} {
		for _, tt := range tests {
			name, wantFail := tt.name, tt.wantFail
			if withState {
				name = "State/" + name
				if wantFail != "" {
					wantFail += " (last seen: not yet)"
				}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := &recorder{TB: t}
				var checks atomic.Int32
				cond := func() bool { return tt.trueAfter >= 0 && checks.Add(1) > tt.trueAfter }
				start := time.Now()
				inGoroutine(func() {
					if !withState {
						Eventually(r, 100*time.Millisecond, "the thing", cond)
						return
					}
					EventuallyState(r, 100*time.Millisecond, "the thing", func() (bool, string) {
						if cond() {
							return true, "done"
						}
						return false, "not yet"
					})
				})
				if wantFail == "" {
					if len(r.failures) != 0 || checks.Load() != tt.trueAfter+1 {
						t.Fatalf("failures %q after %d checks; want none after %d", r.failures, checks.Load(), tt.trueAfter+1)
					}
					return
				}
				if len(r.failures) != 1 || r.failures[0] != wantFail {
					t.Fatalf("failures %q, want %q", r.failures, wantFail)
				}
				if waited := time.Since(start); waited < 100*time.Millisecond || waited > 2*time.Second {
					t.Fatalf("gave up after %s, want about 100ms", waited)
				}
			})
		}
	}
}

// TestStart: Run gets a context that stop (or the end of the test) cancels;
// stop waits for Run and returns its error; an error is reported when the
// test ends, naming what ran.
func TestStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		runErr   error
		stopped  bool // stop called by the test before it ends
		wantFail string
	}{
		{"clean stop at the end of the test", nil, false, ""},
		{"clean stop by the test", nil, true, ""},
		{"Run fails", errors.New("boom"), false, "svc: Run: boom"},
		{"Run fails, stopped by the test (which got the error)", errors.New("boom"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			started, returned := make(chan struct{}), make(chan struct{})
			stop := Start(r, "svc", func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				defer close(returned)
				return tt.runErr
			})
			<-started
			select {
			case <-returned:
				t.Fatal("Run returned before it was stopped")
			default:
			}
			if tt.stopped {
				if err := stop(); !errors.Is(err, tt.runErr) {
					t.Fatalf("stop: %v, want %v", err, tt.runErr)
				}
			}
			r.endTest()
			<-returned
			if got := strings.Join(r.failures, "; "); got != tt.wantFail {
				t.Fatalf("failures %q, want %q", got, tt.wantFail)
			}
		})
	}
}
