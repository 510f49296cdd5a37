package testenv

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Start runs run (a service's or a pipeline's Run) in a goroutine of its
// own, with a context that ends when stop is called or the test ends. stop
// cancels that context, waits for run to return and returns its error, for
// the test to check. If the test has not called stop when it ends, Start
// does, and an error run returned fails the test (t.Errorf, from the test's
// goroutine, never from run's); name says what ran, in that failure.
func Start(t testing.TB, name string, run func(context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	var err error
	wait := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	var mu sync.Mutex
	handed := false // the test called stop and got the error
	t.Cleanup(func() {
		mu.Lock()
		h := handed
		mu.Unlock()
		if err := wait(); err != nil && !h {
			t.Errorf("%s: Run: %v", name, err)
		}
	})
	return func() error {
		mu.Lock()
		handed = true
		mu.Unlock()
		return wait()
	}
}

// Pending is a call running in the background (Background): a service's
// New that is expected to wait for something, say.
type Pending[T any] struct {
	done chan pendingResult[T]
	res  *pendingResult[T]
}

type pendingResult[T any] struct {
	v   T
	err error
}

// Background calls f in a goroutine of its own.
func Background[T any](f func() (T, error)) *Pending[T] {
	p := &Pending[T]{done: make(chan pendingResult[T], 1)}
	go func() {
		v, err := f()
		p.done <- pendingResult[T]{v, err}
	}()
	return p
}

// Returned reports, without waiting, whether f has returned.
func (p *Pending[T]) Returned() bool {
	if p.res != nil {
		return true
	}
	select {
	case r := <-p.done:
		p.res = &r
		return true
	default:
		return false
	}
}

// Wait waits up to within for f to return and returns its value; f not
// returning in time, or returning an error, fails the test.
func (p *Pending[T]) Wait(t testing.TB, within time.Duration) T {
	t.Helper()
	if p.res == nil {
		select {
		case r := <-p.done:
			p.res = &r
		case <-time.After(within):
			t.Fatalf("still waiting after %s", within)
		}
	}
	if p.res.err != nil {
		t.Fatal(p.res.err)
	}
	return p.res.v
}

// Result is f's value and error once it has returned (Returned reports
// whether it has); before, the zero value and nil.
func (p *Pending[T]) Result() (T, error) {
	if !p.Returned() {
		var zero T
		return zero, nil
	}
	return p.res.v, p.res.err
}
