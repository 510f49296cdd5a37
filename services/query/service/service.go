// Package service is the query service's composition root: one gRPC server
// (QueryService, health, reflection) and its HTTP/JSON gateway.
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
	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	phealth "github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/periodic"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
	querygrpc "github.com/evtrack/telemetry/services/query/internal/grpc"
	queryhttp "github.com/evtrack/telemetry/services/query/internal/http"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
	"github.com/evtrack/telemetry/services/query/internal/opensearch"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Limits the query contract sets, not the deployment: requests are small
// (search.MaxRequestBytes), and no call needs large headers.
const (
	// grpcMaxHeaderListSize bounds a call's metadata (a token, trace
	// context, a user agent).
	grpcMaxHeaderListSize = 16 << 10
	// httpMaxHeaderBytes bounds the request line and headers of an HTTP
	// call: the filters travel in the query string, so it covers a q of
	// 1,024 percent-encoded characters, a page token and the other filters.
	httpMaxHeaderBytes = 64 << 10
	// grpcKeepaliveMinTime: clients may ping at most this often (also
	// without calls in flight); more often, and the server closes the
	// connection (GOAWAY "too_many_pings").
	grpcKeepaliveMinTime = 15 * time.Second
	// auditRetentionInterval is how often expired audit indices are looked for.
	auditRetentionInterval = time.Hour
	// suppressionExpiryInterval is how often suppression entries whose
	// time is over are removed.
	suppressionExpiryInterval = time.Hour
)

// The Go runtime's garbage collector settings the query binary starts with
// (runner.Spec; GOGC and GOMEMLIMIT override them): a few MiB live and a
// page's JSON decoded and encoded per call, so collect less often (a
// quarter less CPU a query, BENCHMARKS.md "Cost per event")…
const (
	GCPercent = 400
	// …but collect harder past this many bytes.
	MemoryLimit = 256 << 20
)

// Service is a running query service.
type Service struct {
	cfg       Config
	log       *slog.Logger
	grpc      *grpc.Server
	health    *health.Server
	http      *http.Server
	grpcLn    net.Listener
	httpLn    net.Listener
	checker   *phealth.Checker
	auditor   *audit.Auditor
	retention audit.Retention
	nc        *nats.Conn
	runner    *deletion.Runner
	list      *suppression.List
	metrics   *metrics.Query
	aside     *phealth.Aside // nil: /metrics on the HTTP port
}

// New builds the service and listens on both addresses.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (*Service, error) {
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: cfg.OpenSearchURL, Username: cfg.OpenSearchUser,
		Password: cfg.OpenSearchPassword, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator})
	if err != nil {
		return nil, err
	}
	tokens, err := search.NewPageTokens(cfg.PageTokenKeys)
	if err != nil {
		return nil, fmt.Errorf("page tokens: %w", err)
	}
	svc := search.NewService(opensearch.NewSearcher(osc, cfg.IndexPrefix).WithPseudonyms(cfg.Pseudonyms), tokens)
	if err := applyAuditTemplate(ctx, osc, cfg.IndexPrefix, cfg.IndexReplicas); err != nil {
		// Queries do not wait for the audit index: entries stay in the log.
		log.WarnContext(ctx, "audit index template not applied; audit entries may be dynamically mapped", "error", err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	auditor := audit.New(log, osc, cfg.IndexPrefix, m)
	// Deleting people: the suppression list is in NATS, which the read
	// path does not need, so the service starts without it (deletion
	// requests answer UNAVAILABLE until it is reached).
	nc, err := natsx.Connect(ctx, cfg.NATSURL, "query", log, nats.RetryOnFailedConnect(true), nats.DrainTimeout(natsDrainTimeout))
	if err != nil {
		return nil, err
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream context: %w", err)
	}
	list := suppression.NewList(js, cfg.SuppressionBucket, cfg.SuppressionReplicas, cfg.EventsStream)
	jobs := opensearch.NewJobs(osc, cfg.IndexPrefix, cfg.IndexReplicas)
	runner := deletion.NewRunner(jobs, list, opensearch.NewDocuments(osc, cfg.IndexPrefix).WithPseudonyms(cfg.Pseudonyms), auditor, cfg.Deletion,
		deletion.Metrics{Jobs: m.DeletionJobs, Deleted: m.DeletedDocuments}, log)
	deletions := deletion.NewService(jobs, list, cfg.SuppressFor, runner.Wake).WithPseudonymised(cfg.Pseudonyms.Fields, cfg.Pseudonyms.Ring)
	// Every call's audit entry is counted on its way to the auditor.
	recorder := querygrpc.Metered(auditor, m)
	authn := querygrpc.NewAuthenticator(cfg.ReadTokens, recorder)

	// One chain for both faces: the HTTP gateway calls the server in
	// process through the same interceptors (see querygrpc.InProcess). On
	// the gRPC server the tap has authenticated the call before its message
	// was read; the chain's authenticator then only lets it through. Audit
	// sits outside the rate limit, so refused calls are recorded too.
	interceptors := []grpc.UnaryServerInterceptor{timeout(cfg.RequestTimeout), authn.Interceptor(),
		querygrpc.AuditInterceptor(recorder), querygrpc.RateLimitInterceptor(cfg.RateLimitPerSec, cfg.RateLimitBurst, m.RateLimited)}
	server := querygrpc.NewServer(svc, deletions, log)
	gs := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		grpc.InTapHandle(authn.Tap),
		grpc.MaxRecvMsgSize(search.MaxRequestBytes),
		grpc.MaxHeaderListSize(grpcMaxHeaderListSize),
		grpc.ConnectionTimeout(cfg.GRPCConnectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.GRPCMaxConnectionIdle, Time: cfg.GRPCKeepaliveTime, Timeout: cfg.GRPCKeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcKeepaliveMinTime, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(interceptors...),
	)
	queryv1.RegisterQueryServiceServer(gs, server)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	grpcLn, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		nc.Close()
		grpcLn.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	checker := phealth.NewChecker(2 * time.Second)
	checker.Add("opensearch", opensearchx.Healthy(osc, eventdoc.Pattern(cfg.IndexPrefix)))
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var aside *phealth.Aside
	if cfg.MetricsAddr != "" {
		if aside, err = phealth.ListenAside(cfg.MetricsAddr, checker, metricsHandler); err != nil {
			nc.Close()
			grpcLn.Close()
			httpLn.Close()
			return nil, err
		}
		metricsHandler = nil // not on the public port
	}
	handler, err := queryhttp.NewHandler(ctx, querygrpc.InProcess(server, interceptors...), authn.Header, checker, metricsHandler,
		cfg.CORSOrigins, tel.TracerProvider, tel.Propagator)
	if err != nil {
		nc.Close()
		grpcLn.Close()
		httpLn.Close()
		if aside != nil {
			aside.Close()
		}
		return nil, err
	}
	return &Service{cfg: cfg, log: log, grpc: gs, health: hs, grpcLn: grpcLn, httpLn: httpLn, checker: checker, auditor: auditor,
		nc: nc, runner: runner, list: list, metrics: m, aside: aside,
		retention: audit.Retention{Client: osc, Prefix: cfg.IndexPrefix, Keep: cfg.AuditRetention, Log: log, Metrics: m},
		http: &http.Server{Handler: handler, ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout, ReadTimeout: cfg.HTTPReadTimeout,
			WriteTimeout: cfg.HTTPWriteTimeout, IdleTimeout: cfg.HTTPIdleTimeout, MaxHeaderBytes: httpMaxHeaderBytes}}, nil
}

// applyAuditTemplate puts the audit indices' template and its mapping on the
// existing audit indices (idempotent), so an entry carrying a field the
// template gained in an upgrade is not refused by today's index.
func applyAuditTemplate(ctx context.Context, c *opensearchgo.Client, prefix string, replicas int) error {
	t, err := templates.Build(templates.Audit, prefix, replicas)
	if err != nil {
		return err
	}
	return opensearchx.ApplyIndexTemplate(ctx, c, t.Name, t.Body)
}

// GRPCAddr is the gRPC listen address.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// MetricsAddr is the address /metrics is served on: its own, or the HTTP
// server's.
func (s *Service) MetricsAddr() string {
	if s.aside != nil {
		return s.aside.Addr()
	}
	return s.HTTPAddr()
}

// HTTPAddr is the HTTP listen address.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// Run serves until ctx is cancelled, then stops taking calls and lets the
// ones in flight finish (bounded by ShutdownTimeout).
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "query listening", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "index_prefix", s.cfg.IndexPrefix)
	errs := make(chan error, 3)
	go func() { errs <- s.grpc.Serve(s.grpcLn) }()
	go func() { errs <- s.http.Serve(s.httpLn) }()
	if s.aside != nil {
		go func() { errs <- s.aside.Serve() }()
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go s.checker.MirrorGRPC(pollCtx, s.health, 5*time.Second, queryv1.QueryService_ServiceDesc.ServiceName)
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() { s.auditor.Run(auditCtx); close(auditDone) }()
	retentionDone := make(chan struct{})
	go func() { s.retention.Run(pollCtx, auditRetentionInterval); close(retentionDone) }()
	// The deletion runner stops with the pollers, giving back the job in
	// hand, before the auditor stops (a completion is audited).
	runnerDone := make(chan struct{})
	go func() { s.runner.Run(pollCtx); close(runnerDone) }()
	expiryDone := make(chan struct{})
	go func() { periodic.Run(pollCtx, suppressionExpiryInterval, s.expireSuppressions); close(expiryDone) }()

	var err error
	select {
	case err = <-errs:
		err = fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	s.log.InfoContext(ctx, "query shutting down")
	s.health.Shutdown()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if herr := s.http.Shutdown(sctx); herr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", herr))
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		s.grpc.Stop()
	}
	if s.aside != nil {
		if aerr := s.aside.Shutdown(sctx); aerr != nil {
			err = errors.Join(err, fmt.Errorf("metrics shutdown: %w", aerr))
		}
	}
	stopPoll()
	<-retentionDone
	<-runnerDone
	<-expiryDone
	stopAudit() // after the servers: the last calls' entries are flushed too
	<-auditDone
	natsx.Close(ctx, s.nc, s.log)
	s.log.InfoContext(ctx, "query stopped")
	return err
}

// expireSuppressions removes the suppression entries whose time is over and
// that no batch still waiting in the events stream may need
// (suppression.RemovableBefore), at start and then hourly (every replica
// may: removing is idempotent).
func (s *Service) expireSuppressions(ctx context.Context) {
	n, err := s.list.DeleteExpired(ctx, time.Now())
	s.metrics.SuppressionsExpired.Add(float64(n))
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "removing expired suppressions failed", "error", err)
	}
}

func timeout(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}
