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
	if ok, _ := poll(within, func() (bool, string) { return cond(), "" }); !ok {
		t.Fatalf("timed out after %s waiting for: %s", within, what)
	}
}

// EventuallyState is Eventually for a check that also says what it saw
// (a status, the items still missing): when within passes, the failure
// ends with what the last check saw.
func EventuallyState(t testing.TB, within time.Duration, what string, check func() (ok bool, state string)) {
	t.Helper()
	if ok, state := poll(within, check); !ok {
		t.Fatalf("timed out after %s waiting for: %s (last seen: %s)", within, what, state)
	}
}

// poll runs check until it holds or within has passed, and returns its last
// answer.
func poll(within time.Duration, check func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(within)
	interval := firstPoll
	for {
		ok, state := check()
		if ok || time.Now().After(deadline) {
			return ok, state
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, maxPoll)
	}
}
