// Package service is the query service's composition root: one gRPC server
// (QueryService, health, reflection) and its HTTP/JSON gateway.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/opensearch/templates"
	phealth "github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	querygrpc "github.com/evtrack/telemetry/services/query/internal/grpc"
	queryhttp "github.com/evtrack/telemetry/services/query/internal/http"
	"github.com/evtrack/telemetry/services/query/internal/opensearch"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Service is a running query service.
type Service struct {
	cfg     Config
	log     *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	grpcLn  net.Listener
	httpLn  net.Listener
	checker *phealth.Checker
	auditor *audit.Auditor
}

// New builds the service and listens on both addresses.
func New(ctx context.Context, cfg Config, log *slog.Logger, tel *otelx.Telemetry) (*Service, error) {
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: cfg.OpenSearchURL, Username: cfg.OpenSearchUser,
		Password: cfg.OpenSearchPassword, TracerProvider: tel.TracerProvider, Propagator: tel.Propagator})
	if err != nil {
		return nil, err
	}
	key := cfg.PageTokenKey
	if key == nil {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.WarnContext(ctx, "QUERY_PAGE_TOKEN_KEY not set: page tokens are valid only on this process until it restarts")
	}
	tokens, err := search.NewPageTokens(key)
	if err != nil {
		return nil, err
	}
	svc := search.NewService(opensearch.NewSearcher(osc, cfg.IndexPrefix), tokens)
	if err := applyAuditTemplate(ctx, osc, cfg.IndexPrefix); err != nil {
		// Queries do not wait for the audit index: entries stay in the log.
		log.WarnContext(ctx, "audit index template not applied; audit entries may be dynamically mapped", "error", err)
	}
	auditor := audit.New(log, osc, eventdoc.AuditIndex(cfg.IndexPrefix))

	// One chain for both faces: the HTTP gateway calls the server in
	// process through the same interceptors (see querygrpc.InProcess).
	interceptors := []grpc.UnaryServerInterceptor{timeout(cfg.RequestTimeout), querygrpc.AuthInterceptor(cfg.ReadTokens),
		querygrpc.RateLimitInterceptor(cfg.RateLimitPerSec, cfg.RateLimitBurst), querygrpc.AuditInterceptor(auditor)}
	server := querygrpc.NewServer(svc, log)
	gs := grpc.NewServer(
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tel.TracerProvider), otelgrpc.WithPropagators(tel.Propagator))),
		grpc.ChainUnaryInterceptor(interceptors...),
	)
	queryv1.RegisterQueryServiceServer(gs, server)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	grpcLn, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		grpcLn.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	checker := phealth.NewChecker(2 * time.Second)
	checker.Add("opensearch", opensearchx.Ping(osc))
	handler, err := queryhttp.NewHandler(ctx, querygrpc.InProcess(server, interceptors...), checker, cfg.CORSOrigins, tel.TracerProvider, tel.Propagator)
	if err != nil {
		grpcLn.Close()
		httpLn.Close()
		return nil, err
	}
	return &Service{cfg: cfg, log: log, grpc: gs, health: hs, grpcLn: grpcLn, httpLn: httpLn, checker: checker, auditor: auditor,
		http: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// applyAuditTemplate puts the audit index's template (idempotent).
func applyAuditTemplate(ctx context.Context, c *opensearchgo.Client, prefix string) error {
	t, err := templates.Audit(prefix)
	if err != nil {
		return err
	}
	return opensearchx.PutIndexTemplate(ctx, c, t.Name, t.Body)
}

// GRPCAddr is the gRPC listen address.
func (s *Service) GRPCAddr() string { return s.grpcLn.Addr().String() }

// HTTPAddr is the HTTP listen address.
func (s *Service) HTTPAddr() string { return s.httpLn.Addr().String() }

// Run serves until ctx is cancelled, then stops taking calls and lets the
// ones in flight finish (bounded by ShutdownTimeout).
func (s *Service) Run(ctx context.Context) error {
	s.log.InfoContext(ctx, "query listening", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "index_prefix", s.cfg.IndexPrefix)
	errs := make(chan error, 2)
	go func() { errs <- s.grpc.Serve(s.grpcLn) }()
	go func() { errs <- s.http.Serve(s.httpLn) }()
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	go s.pollHealth(pollCtx)
	auditCtx, stopAudit := context.WithCancel(context.WithoutCancel(ctx))
	auditDone := make(chan struct{})
	go func() { s.auditor.Run(auditCtx); close(auditDone) }()

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
	stopAudit() // after the servers: the last calls' entries are flushed too
	<-auditDone
	s.log.InfoContext(ctx, "query stopped")
	return err
}

// pollHealth mirrors the readiness checks into the gRPC health service.
func (s *Service) pollHealth(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		_, ok := s.checker.Run(ctx)
		st := healthpb.HealthCheckResponse_SERVING
		if !ok {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.health.SetServingStatus("", st)
		s.health.SetServingStatus(queryv1.QueryService_ServiceDesc.ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func timeout(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return handler(ctx, req)
	}
}
