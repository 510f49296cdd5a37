package testenv

import (
	"context"
	"sync"
	"testing"
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
