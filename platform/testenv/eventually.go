package testenv

import (
	"testing"
	"time"
)

// Poll intervals of Eventually: the first check is immediate, then the
// interval doubles from firstPoll up to maxPoll, so a condition met at once
// costs nothing and a long wait does not hammer the servers.
const (
	firstPoll = 10 * time.Millisecond
	maxPoll   = 250 * time.Millisecond
)

// Eventually waits until cond holds, checking it at once and then at a
// short interval; if it does not hold within `within` the test fails
// (t.Fatalf) with what it was waiting for. Call it from the test's own
// goroutine, as t.Fatalf requires; cond may itself fail the test.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	interval := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, what)
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, maxPoll)
	}
}
