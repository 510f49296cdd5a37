package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
)

// jetStream opens the current broker's JetStream; close the connection.
func (r *runner) jetStream() (*nats.Conn, njs.JetStream, error) {
	nc, err := nats.Connect(r.broker.URL, nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", r.broker.URL, err)
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream %s: %w", r.broker.URL, err)
	}
	return nc, js, nil
}

// deleteStream removes stream from the current broker.
func (r *runner) deleteStream(ctx context.Context, stream string) error {
	nc, js, err := r.jetStream()
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := js.DeleteStream(ctx, stream); err != nil {
		return fmt.Errorf("delete stream %s: %w", stream, err)
	}
	return nil
}

// waitDrained waits until enrich's consumer on stream has nothing pending
// or unacknowledged; after DrainWithin it fails, saying how much was left.
func (r *runner) waitDrained(ctx context.Context, stream string) error {
	nc, js, err := r.jetStream()
	if err != nil {
		return err
	}
	defer nc.Close()
	deadline := time.Now().Add(r.cfg.DrainWithin)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := "no consumer info yet"
	for {
		c, err := js.Consumer(ctx, stream, "enrich")
		if err == nil {
			var info *njs.ConsumerInfo
			if info, err = c.Info(ctx); err == nil {
				if info.NumPending == 0 && info.NumAckPending == 0 {
					return nil
				}
				last = fmt.Sprintf("%d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
			}
		}
		if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enrich's backlog on %s did not drain within %s (last: %s)", stream, r.cfg.DrainWithin, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
