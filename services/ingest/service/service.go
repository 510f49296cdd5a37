// Package service is the ingest service's composition root: it connects the
// broker, builds the use case and the HTTP edge, and owns their lifecycle.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/otelx"
	ingesthttp "github.com/evtrack/telemetry/services/ingest/internal/http"
	"github.com/evtrack/telemetry/services/ingest/internal/jetstream"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// Service is a running ingest service.
type Service struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn
	app *fiber.App
	ln  net.Listener
}

// New connects to NATS, creates or updates the stream, and listens on
// cfg.HTTPAddr. Call Run to serve.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (*Service, error) {
	nc, err := natsx.Connect(ctx, cfg.NATSURL, "ingest", log)
	if err != nil {
		return nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	if _, err := jetstream.EnsureStream(ctx, js, cfg.Stream); err != nil {
		nc.Close()
		return nil, err
	}
	pub := jetstream.NewBatchPublisher(js, cfg.Stream, cfg.PublishTimeout, tel.TracerProvider, tel.Propagator)
	tracker := track.NewTracker(pub, track.Limits{MaxEvents: cfg.MaxEvents, MaxMetadataKeys: cfg.MaxMetadataKeys})

	checker := health.NewChecker(cfg.PublishTimeout)
	checker.Add("nats", natsx.Ready(nc))
	app := ingesthttp.NewApp(cfg.WriteKeys, tracker, checker, log, ingesthttp.Options{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RetryAfterSecs: int(cfg.RetryAfter.Seconds()),
		TracerProvider: tel.TracerProvider,
		Propagator:     tel.Propagator,
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	return &Service{cfg: cfg, log: log, nc: nc, app: app, ln: ln}, nil
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx is cancelled, then shuts down in order: stop taking
// requests and let in-flight ones finish (their publishes complete or fail
// and are answered), then drain the NATS connection.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "ingest listening", "addr", s.Addr(), "stream", s.cfg.Stream.Name, "write_keys", s.cfg.WriteKeys.Len())
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.app.Listener(s.ln) }()

	var err error
	select {
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
		s.log.InfoContext(ctx, "ingest shutting down", "timeout", s.cfg.ShutdownTimeout)
		if serr := s.app.ShutdownWithTimeout(s.cfg.ShutdownTimeout); serr != nil {
			err = fmt.Errorf("http shutdown: %w", serr)
		}
		<-serveErr
	}
	if derr := s.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = errors.Join(err, fmt.Errorf("drain nats: %w", derr))
	}
	s.log.InfoContext(ctx, "ingest stopped")
	return err
}
