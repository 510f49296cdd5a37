package track

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Gate bounds how many requests are being worked on at once, across every
// transport. A request that finds the gate full is refused at once (503) —
// queueing it would only grow memory and latency.
type Gate struct {
	slots chan struct{}
}

// NewGate admits at most n requests at once.
func NewGate(n int) *Gate { return &Gate{slots: make(chan struct{}, n)} }

// Enter takes a slot or fails with a KindOverloaded *Error; call the returned
// function when the request is done.
func (g *Gate) Enter(retryAfter time.Duration) (func(), error) {
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		return nil, &Error{Kind: KindOverloaded, Code: "overloaded",
			Message: "too many requests in progress; retry later", RetryAfter: retryAfter}
	}
}

// InUse is the number of requests inside the gate.
func (g *Gate) InUse() int { return len(g.slots) }

// RateLimiter is a token bucket of events per second for each app.
type RateLimiter struct {
	perSec float64
	burst  int
	mu     sync.Mutex
	apps   map[string]*rate.Limiter
}

// NewRateLimiter returns a limiter; perSec <= 0 disables it (nil).
func NewRateLimiter(perSec float64, burst int) *RateLimiter {
	if perSec <= 0 {
		return nil
	}
	return &RateLimiter{perSec: perSec, burst: burst, apps: map[string]*rate.Limiter{}}
}

// Take takes n events' worth of tokens for app now, or reports how long to
// wait before the same request would fit.
func (r *RateLimiter) Take(app string, n int, now time.Time) (bool, time.Duration) {
	if r == nil {
		return true, 0
	}
	r.mu.Lock()
	l, ok := r.apps[app]
	if !ok {
		l = rate.NewLimiter(rate.Limit(r.perSec), r.burst)
		r.apps[app] = l
	}
	r.mu.Unlock()
	if n > r.burst {
		// Can never fit: say how long a full bucket takes to refill.
		return false, time.Duration(math.Ceil(float64(r.burst)/r.perSec)) * time.Second
	}
	res := l.ReserveN(now, n)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}
