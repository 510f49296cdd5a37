// Package periodic runs a service's background chores: once at start, then
// at a fixed interval, until the service stops.
package periodic

import (
	"context"
	"time"
)

// Run calls do at once and then every interval until ctx ends, and returns
// then; a call in progress is not interrupted (do gets ctx to see the end).
// A call that overruns the interval delays the next one (ticks are not
// queued).
func Run(ctx context.Context, interval time.Duration, do func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		do(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() != nil { // both were ready: the end wins
				return
			}
		}
	}
}
