// Package grpc is the query service's gRPC edge: read-token authentication,
// per-token rate limits, the audit trail, and the one mapping from search
// errors to gRPC status codes. The HTTP/JSON face (grpc-gateway) calls
// through this same server, so both answer alike.
package grpc

import (
	"context"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Server implements telemetry.query.v1.QueryService.
type Server struct {
	queryv1.UnimplementedQueryServiceServer
	svc       *search.Service
	deletions *deletion.Service
	log       *slog.Logger
}

// NewServer returns the QueryService implementation.
func NewServer(svc *search.Service, deletions *deletion.Service, log *slog.Logger) *Server {
	return &Server{svc: svc, deletions: deletions, log: log}
}

// DeleteUser implements QueryService.
func (s *Server) DeleteUser(ctx context.Context, req *queryv1.DeleteUserRequest) (*queryv1.DeleteUserResponse, error) {
	job, err := s.deletions.Request(ctx, principalFrom(ctx), req)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &queryv1.DeleteUserResponse{Job: job}, nil
}

// GetDeletion implements QueryService.
func (s *Server) GetDeletion(ctx context.Context, req *queryv1.GetDeletionRequest) (*queryv1.GetDeletionResponse, error) {
	job, err := s.deletions.Get(ctx, principalFrom(ctx), req)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &queryv1.GetDeletionResponse{Job: job}, nil
}

// SearchEvents implements QueryService.
func (s *Server) SearchEvents(ctx context.Context, req *queryv1.SearchEventsRequest) (*queryv1.SearchEventsResponse, error) {
	res, err := s.svc.SearchEvents(ctx, principalFrom(ctx), req)
	return res, s.toStatus(ctx, err)
}

// GetEvent implements QueryService.
func (s *Server) GetEvent(ctx context.Context, req *queryv1.GetEventRequest) (*queryv1.GetEventResponse, error) {
	res, err := s.svc.GetEvent(ctx, principalFrom(ctx), req)
	return res, s.toStatus(ctx, err)
}

// GetUserSummary implements QueryService.
func (s *Server) GetUserSummary(ctx context.Context, req *queryv1.GetUserSummaryRequest) (*queryv1.GetUserSummaryResponse, error) {
	res, err := s.svc.GetUserSummary(ctx, principalFrom(ctx), req)
	return res, s.toStatus(ctx, err)
}

// EventStats implements QueryService.
func (s *Server) EventStats(ctx context.Context, req *queryv1.EventStatsRequest) (*queryv1.EventStatsResponse, error) {
	res, err := s.svc.EventStats(ctx, principalFrom(ctx), req)
	return res, s.toStatus(ctx, err)
}

// toStatus is the one place search errors become gRPC codes (and, through
// the gateway, HTTP statuses). Store errors are logged, never returned:
// callers see a fixed message.
func (s *Server) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
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
	case search.KindNotFound:
		return status.Error(codes.NotFound, msg)
	case search.KindUnavailable:
		s.log.WarnContext(ctx, "event store unavailable", "error", err)
		return status.Error(codes.Unavailable, msg)
	default:
		s.log.ErrorContext(ctx, "query failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
}
