// Package service is the ingest service's composition root: it connects the
// broker, builds the use case and the HTTP and gRPC edges, and owns their
// lifecycle.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/retry"
	ingestgrpc "github.com/evtrack/telemetry/services/ingest/internal/grpc"
	ingesthttp "github.com/evtrack/telemetry/services/ingest/internal/http"
	"github.com/evtrack/telemetry/services/ingest/internal/jetstream"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// Service is a running ingest service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	app    *fiber.App
	ln     net.Listener
	grpc   *grpc.Server
	grpcLn net.Listener
	aside  *health.Aside // nil: /metrics on the HTTP port
	// The gRPC health service mirrors checker, as /readyz does.
	checker *health.Checker
	health  *grpchealth.Server
}

// New connects to NATS, creates or updates the stream, and listens on both
// addresses. Call Run to serve.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (svc *Service, err error) {
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	// The broker may come up after ingest, or be electing its leaders (a
	// cluster starting): wait for it until ctx ends. Nothing listens before
	// the stream is in place, so no caller is answered before then.
	nc, err := natsx.Connect(ctx, cfg.NATSURL, "ingest", log, nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, err
	}
	closers = append(closers, nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	var stream njs.Stream
	if err := retry.Until(ctx, log, "create or update stream "+cfg.Stream.Name, func() (err error) {
		stream, err = jetstream.EnsureStream(ctx, js, cfg.Stream)
		if jetstream.ConfigRefused(err) {
			return retry.Permanent(err) // exit and say why: waiting mends nothing
		}
		return err
	}); err != nil {
		return nil, err
	}
	if kept := stream.CachedInfo().Config.Replicas; kept > cfg.Stream.Replicas {
		log.WarnContext(ctx, "EVENTS_STREAM_REPLICAS is below the stream's replicas, which are kept (lower them by hand if meant)",
			"stream", cfg.Stream.Name, "replicas", kept, "EVENTS_STREAM_REPLICAS", cfg.Stream.Replicas)
	}
	if cfg.Stream.MaxAge > 0 {
		log.WarnContext(ctx, "EVENTS_STREAM_MAX_AGE is set: batches not indexed within it are discarded although they were acknowledged",
			"max_age", cfg.Stream.MaxAge)
	}

	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	reg.MustRegister(jetstream.NewFillCollector(js, cfg.Stream.Name, cfg.PublishTimeout))
	pub := jetstream.NewBatchPublisher(js, cfg.Stream, jetstream.PublisherOptions{
		Timeout: cfg.PublishTimeout, MaxInFlight: cfg.MaxInFlightPublishes, Metrics: m,
		Tracer: tel.TracerProvider, Propagator: tel.Propagator,
	})
	limits := track.Limits{MaxEvents: cfg.MaxEvents, MaxMetadataKeys: cfg.MaxMetadataKeys, MaxEventBytes: cfg.MaxEventBytes}
	tracker := track.NewTracker(pub, track.Options{
		Limits:     limits,
		RateLimit:  track.NewRateLimiter(cfg.RateLimitPerSec, cfg.RateLimitBurst),
		RetryAfter: cfg.RetryAfter,
		Metrics:    m,
	})
	gate := track.NewGate(cfg.MaxConcurrentRequests)
	// One memory budget for every body being inflated and decoded, whichever
	// edge it came through.
	budget := track.NewBudget(cfg.DecodeBudgetBytes)
	decoder := track.NewDecoder(limits, budget)
	// Bodies and gRPC messages being read are charged before they arrive:
	// one client address holds at most a share of the budget in them, over
	// both edges together, and the share holds at least one of the largest.
	addressBudget := track.NewAddressBudget(budget, max(cfg.MaxBodyBytes, cfg.GRPCMaxMessageBytes))
	// Segment requests whose key is only in their body are read before they
	// are authenticated: they get a smaller budget of their own.
	bodyKeyBudget := track.NewBudget(cfg.BodyKeyBudgetBytes)

	checker := health.NewChecker(cfg.PublishTimeout)
	checker.Add("nats", natsx.Ready(nc))
	app, err := ingesthttp.NewApp(cfg.WriteKeys, tracker, checker, log, ingesthttp.Options{
		MaxBodyBytes:      cfg.MaxBodyBytes,
		MaxDecodedBytes:   cfg.MaxDecodedBytes,
		Budget:            budget,
		AddressBudget:     addressBudget,
		Decoder:           decoder,
		MaxConnections:    cfg.MaxConnections,
		MaxConnsPerIP:     cfg.MaxConnsPerIP,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		TrustedProxies:    cfg.TrustedProxies,
		RetryAfter:        cfg.RetryAfter,
		Gate:              gate,
		Metrics:           m,
		Registry:          reg,
		MetricsElsewhere:  cfg.MetricsAddr != "",
		TracerProvider:    tel.TracerProvider,
		Propagator:        tel.Propagator,
		BodyKeyBudget:     bodyKeyBudget,
		BodyKeyMaxDecoded: cfg.BodyKeyMaxDecoded,
		BodyKeyDecoder:    track.NewDecoder(limits, bodyKeyBudget),
		TrustContextIP:    cfg.TrustContextIP,
	})
	if err != nil {
		return nil, err
	}

	ingest := ingestgrpc.NewServer(cfg.WriteKeys, tracker, log, ingestgrpc.Options{
		Gate: gate, Budget: addressBudget, Decoder: decoder, MaxMessage: cfg.GRPCMaxMessageBytes,
		RetryAfter: cfg.RetryAfter, Metrics: m,
	})
	gs := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		// The write key is checked on the headers, before any message is read.
		grpc.InTapHandle(ingest.Authenticate),
		grpc.ForceServerCodecV2(ingestgrpc.NewCodec()),
		// Also bounds what gRPC inflates a compressed message to.
		grpc.MaxRecvMsgSize(cfg.GRPCMaxMessageBytes),
		grpc.MaxHeaderListSize(uint32(cfg.MaxHeaderBytes)),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentRequests)),
		grpc.ConnectionTimeout(cfg.ReadTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.IdleTimeout, Time: time.Minute, Timeout: 20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: false}),
	)
	ingestgrpc.Register(gs, ingest)
	hs := grpchealth.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	closers = append(closers, func() { ln.Close() })
	grpcLn, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	closers = append(closers, func() { grpcLn.Close() })
	var aside *health.Aside
	if cfg.MetricsAddr != "" {
		if aside, err = health.ListenAside(cfg.MetricsAddr, checker, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})); err != nil {
			return nil, err
		}
	}
	return &Service{cfg: cfg, log: log, nc: nc, app: app, ln: ln, grpc: gs, grpcLn: grpcLn, aside: aside, checker: checker, health: hs}, nil
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// MetricsAddr is the address /metrics is served on: its own, or the HTTP
// server's.
func (s *Service) MetricsAddr() string {
	if s.aside != nil {
		return s.aside.Addr()
	}
	return s.Addr()
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// Run serves until ctx is cancelled, then shuts down in order: stop taking
// requests and let in-flight ones finish (their publishes complete or fail
// and are answered), then drain the NATS connection.
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "ingest listening", "http", s.Addr(), "grpc", s.GRPCAddr(),
		"stream", s.cfg.Stream.Name, "write_keys", s.cfg.WriteKeys.Len())
	errs := make(chan error, 3)
	go func() { errs <- s.app.Listener(s.ln) }()
	go func() { errs <- s.grpc.Serve(s.grpcLn) }()
	running := 2
	if s.aside != nil {
		go func() { errs <- s.aside.Serve() }()
		running++
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go s.checker.MirrorGRPC(pollCtx, s.health, 5*time.Second, ingestv1.IngestService_ServiceDesc.ServiceName)

	var err error
	select {
	case err = <-errs:
		running--
		err = fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	s.log.InfoContext(ctx, "ingest shutting down", "timeout", s.cfg.ShutdownTimeout)
	stopPoll()
	s.health.Shutdown() // NOT_SERVING from now on: balancers stop sending
	// Both edges stop taking requests at once and drain within the one
	// deadline: one slow HTTP client must not hold gRPC open (taking new
	// calls) meanwhile. At the deadline gRPC calls still running are ended;
	// HTTP connections still open (fasthttp does not close them) end with
	// the process. Their callers get no answer and send again, which is no
	// failure of the stop.
	deadline := time.Now().Add(s.cfg.ShutdownTimeout)
	httpDone := make(chan error, 1)
	go func() { httpDone <- s.app.ShutdownWithTimeout(s.cfg.ShutdownTimeout) }()
	grpcDone := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(grpcDone) }()
	select {
	case <-grpcDone:
	case <-time.After(time.Until(deadline)):
		s.grpc.Stop()
		s.log.WarnContext(ctx, "gRPC calls still running at the shutdown deadline were ended")
	}
	herr := <-httpDone
	// A stop begun before the HTTP server took its listener (fasthttp then
	// has none to close, and its Serve, starting later, accepts for ever)
	// still ends it: the listener is closed here too (closing it twice is
	// harmless).
	_ = s.ln.Close()
	if errors.Is(herr, context.DeadlineExceeded) {
		s.log.WarnContext(ctx, "HTTP connections still open at the shutdown deadline are left to end with the process")
	} else if herr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", herr))
	}
	if s.aside != nil { // scrapes see the shutdown until the public port is closed
		actx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		if aerr := s.aside.Shutdown(actx); aerr != nil {
			err = errors.Join(err, fmt.Errorf("metrics shutdown: %w", aerr))
		}
		cancel()
	}
	for ; running > 0; running-- {
		<-errs
	}
	natsx.Close(ctx, s.nc, s.log)
	s.log.InfoContext(ctx, "ingest stopped")
	return err
}
