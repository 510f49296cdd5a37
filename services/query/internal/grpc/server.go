// Package grpc is the query service's gRPC edge: read-token authentication
// and the one mapping from search errors to gRPC status codes. The HTTP/JSON
// face (grpc-gateway) calls through this same server, so both answer alike.
package grpc

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/auth"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Server implements telemetry.query.v1.QueryService.
type Server struct {
	queryv1.UnimplementedQueryServiceServer
	svc *search.Service
	log *slog.Logger
}

// NewServer returns the QueryService implementation.
func NewServer(svc *search.Service, log *slog.Logger) *Server {
	return &Server{svc: svc, log: log}
}

// SearchEvents implements QueryService.
func (s *Server) SearchEvents(ctx context.Context, req *queryv1.SearchEventsRequest) (*queryv1.SearchEventsResponse, error) {
	p, ok := principalFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no principal")
	}
	res, err := s.svc.SearchEvents(ctx, p, req)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	s.log.InfoContext(ctx, "query", "method", "SearchEvents", "principal", p.Name, "app_id", req.GetAppId(),
		"user_id_set", req.GetUserId() != "", "results", len(res.Events))
	return res, nil
}

// toStatus is the one place search errors become gRPC codes. Store errors
// are logged, never returned: callers see a fixed message.
func (s *Server) toStatus(ctx context.Context, err error) error {
	se, ok := search.AsError(err)
	if !ok {
		s.log.ErrorContext(ctx, "query failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
	msg := se.Message
	if se.Param != "" {
		msg = se.Param + ": " + msg
	}
	switch se.Kind {
	case search.KindInvalidArgument:
		return status.Error(codes.InvalidArgument, msg)
	case search.KindPermissionDenied:
		return status.Error(codes.PermissionDenied, msg)
	case search.KindUnavailable:
		s.log.WarnContext(ctx, "event store unavailable", "error", err)
		return status.Error(codes.Unavailable, msg)
	default:
		s.log.ErrorContext(ctx, "query failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
}

type principalKey struct{}

func principalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// AuthInterceptor authenticates every QueryService call by its read token
// ("authorization: Bearer <token>"). Health and reflection stay open.
func AuthInterceptor(tokens *auth.ReadTokens) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, "/"+queryv1.QueryService_ServiceDesc.ServiceName+"/") {
			return handler(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		var tok string
		if v := md.Get("authorization"); len(v) > 0 {
			scheme, rest, ok := strings.Cut(v[0], " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				tok = strings.TrimSpace(rest)
			}
		}
		if tok == "" {
			return nil, status.Error(codes.Unauthenticated, "a read token is required: authorization: Bearer <token>")
		}
		p, ok := tokens.Principal(tok)
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "unknown read token")
		}
		return handler(context.WithValue(ctx, principalKey{}, p), req)
	}
}
