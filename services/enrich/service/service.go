// Package service is the enrich service's composition root.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/services/enrich/internal/opensearch"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
)

// Service is a running enrich service.
type Service struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	pipe *pipeline.Pipeline
	http *http.Server
	ln   net.Listener
}

// New connects to NATS and OpenSearch, applies the index templates, and
// creates or updates the durable consumer. It waits (until ctx ends) for the
// stream, which the ingest service creates.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (*Service, error) {
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: cfg.OpenSearchURL, Username: cfg.OpenSearchUser,
		Password: cfg.OpenSearchPassword, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator})
	if err != nil {
		return nil, err
	}
	if err := retry(ctx, log, "apply index templates", func() error {
		return opensearch.ApplyTemplates(ctx, osc, cfg.Pipeline.IndexPrefix)
	}); err != nil {
		return nil, err
	}
	nc, err := natsx.Connect(ctx, cfg.NATSURL, "enrich", log)
	if err != nil {
		return nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	var cons njs.Consumer
	if err := retry(ctx, log, "create consumer", func() error {
		cons, err = js.CreateOrUpdateConsumer(ctx, cfg.Stream, njs.ConsumerConfig{
			Durable:       cfg.Consumer,
			Description:   "enrich: index event batches into OpenSearch",
			FilterSubject: cfg.SubjectPrefix + ".>",
			DeliverPolicy: njs.DeliverAllPolicy,
			AckPolicy:     njs.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxAckPending: cfg.MaxAckPending,
			MaxDeliver:    -1,
		})
		if err != nil {
			return fmt.Errorf("consumer %s on stream %s: %w", cfg.Consumer, cfg.Stream, err)
		}
		return nil
	}); err != nil {
		nc.Close()
		return nil, err
	}

	checker := health.NewChecker(2 * time.Second)
	checker.Add("nats", natsx.Ready(nc))
	checker.Add("opensearch", opensearchx.Ping(osc))
	mux := http.NewServeMux()
	checker.Register(mux)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	pipe := pipeline.New(cons, opensearch.NewBulkIndexer(osc), cfg.Pipeline, log, tel.TracerProvider, tel.Propagator)
	return &Service{cfg: cfg, log: log, nc: nc, pipe: pipe, ln: ln,
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// Addr is the address of the health endpoints.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Run indexes until ctx is cancelled, then finishes the batch in hand, acks
// it, and drains the NATS connection.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "enrich running", "addr", s.Addr(), "stream", s.cfg.Stream, "consumer", s.cfg.Consumer,
		"index_prefix", s.cfg.Pipeline.IndexPrefix)
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.http.Serve(s.ln) }()

	err := s.pipe.Run(ctx)
	s.log.InfoContext(ctx, "enrich shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if herr := s.http.Shutdown(sctx); herr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", herr))
	}
	if herr := <-httpErr; herr != nil && !errors.Is(herr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("http server: %w", herr))
	}
	natsx.Close(ctx, s.nc, s.log)
	s.log.InfoContext(ctx, "enrich stopped")
	return err
}

// retry calls f until it succeeds or ctx ends, logging each failure: at
// start-up a dependency may still be coming up.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	delay := 250 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		log.WarnContext(ctx, what+" failed; retrying", "error", err, "in", delay)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %w)", what, err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
