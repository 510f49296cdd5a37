// Package natsx connects to NATS the same way in every service and carries
// trace context in message headers.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evtrack/telemetry/platform/credentials"
)

// Connect dials url and keeps reconnecting for ever: a service whose broker
// restarts recovers by itself. Connection state changes are logged. extra
// options are applied last (nats.RetryOnFailedConnect(true): start without
// the broker and connect when it comes).
func Connect(ctx context.Context, url, name string, log *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		// No buffering while disconnected: a publish or ack made then fails
		// at once, so callers report it (ingest answers 503) instead of
		// waiting for a reconnect that may never come.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.WarnContext(ctx, "nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.InfoContext(ctx, "nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.ErrorContext(ctx, "nats async error", "subject", subj, "error", err)
		}),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s: %w", credentials.RedactURLs(url), err)
	}
	return nc, nil
}

// Close drains nc (flushing what it has sent and waiting for its
// subscriptions to finish) and closes it. When the broker is unreachable a
// drain cannot complete; that is logged, not returned: the callers have
// already answered for everything they sent, and what was not acknowledged is
// redelivered.
func Close(ctx context.Context, nc *nats.Conn, log *slog.Logger) {
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.WarnContext(ctx, "nats drain failed; closing", "error", err)
		nc.Close()
		return
	}
	for !nc.IsClosed() {
		time.Sleep(10 * time.Millisecond)
	}
}

// Ready reports whether nc is connected; use it as a readiness check.
func Ready(nc *nats.Conn) func(context.Context) error {
	return func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: %s", nc.Status())
		}
		return nc.FlushWithContext(ctx)
	}
}

// HeaderCarrier adapts nats.Header to OpenTelemetry's TextMapCarrier.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces key's values with value.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
