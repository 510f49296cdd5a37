// Package retry waits out a dependency that is still coming up when a
// service starts: a broker electing its leaders, a search cluster forming.
package retry

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Permanent wraps an error no retry can mend (a configuration the
// dependency refuses): Until returns it at once.
func Permanent(err error) error { return permanent{err} }

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Until calls f until it succeeds or ctx ends, logging each failure with
// the delay before the next attempt (250 ms, doubling to at most 5 s). When
// ctx ends first the error names what, f's last error and ctx's. An error
// of f's wrapped by Permanent is returned at once, unwrapped.
func Until(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	delay := 250 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if p, ok := err.(permanent); ok {
			return fmt.Errorf("%s: %w", what, p.err)
		}
		log.WarnContext(ctx, what+" failed; retrying", "error", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}
