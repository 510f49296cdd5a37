// Package grpc is the ingest service's gRPC edge: IngestService/Track for
// server-side producers, with the same write keys, validation, limits and
// durability as POST /v1/track.
package grpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	ingesthttp "github.com/evtrack/telemetry/services/ingest/internal/http"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// Server implements telemetry.ingest.v1.IngestService.
type Server struct {
	ingestv1.UnimplementedIngestServiceServer
	keys       *auth.WriteKeys
	tracker    *track.Tracker
	gate       *track.Gate
	retryAfter time.Duration
	metrics    *metrics.Ingest
	log        *slog.Logger
}

// NewServer returns the IngestService implementation.
func NewServer(keys *auth.WriteKeys, tracker *track.Tracker, gate *track.Gate, retryAfter time.Duration, m *metrics.Ingest, log *slog.Logger) *Server {
	return &Server{keys: keys, tracker: tracker, gate: gate, retryAfter: retryAfter, metrics: m, log: log}
}

// Track implements IngestService.
func (s *Server) Track(ctx context.Context, req *ingestv1.TrackRequest) (*ingestv1.TrackResponse, error) {
	start := time.Now()
	res, err := s.track(ctx, req)
	s.metrics.RequestSeconds.WithLabelValues("grpc").Observe(time.Since(start).Seconds())
	s.metrics.Requests.WithLabelValues("grpc", status.Code(err).String()).Inc()
	return res, err
}

func (s *Server) track(ctx context.Context, req *ingestv1.TrackRequest) (*ingestv1.TrackResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var appID string
	if v := md.Get("authorization"); len(v) > 0 {
		if key, ok := ingesthttp.WriteKey(v[0]); ok {
			appID, _ = s.keys.AppID(key)
		}
	}
	if appID == "" {
		return nil, status.Error(codes.Unauthenticated, "a valid write key is required: authorization: Bearer <write key>")
	}
	release, err := s.gate.Enter(s.retryAfter)
	if err != nil {
		return nil, s.toStatus(ctx, track.Result{}, err)
	}
	defer release()
	facts := track.Facts{AppID: appID}
	if p, ok := peer.FromContext(ctx); ok {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			facts.ClientIP = ap.Addr().Unmap().String()
		}
	}
	if ua := md.Get("user-agent"); len(ua) > 0 {
		facts.UserAgent = ua[0]
	}
	res, err := s.tracker.Track(ctx, facts, track.FromBatch(req.GetBatch()))
	if err != nil {
		return nil, s.toStatus(ctx, res, err)
	}
	return response(res), nil
}

func response(res track.Result) *ingestv1.TrackResponse {
	out := &ingestv1.TrackResponse{Accepted: int32(res.Accepted), Rejected: int32(res.Rejected), Duplicates: int32(res.Duplicates)}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, &ingestv1.EventError{Index: int32(e.Index), EventId: e.EventID, Field: e.Field, Message: e.Message})
	}
	return out
}

// toStatus is the one place track errors become gRPC codes.
func (s *Server) toStatus(ctx context.Context, res track.Result, err error) error {
	te, ok := track.AsError(err)
	if !ok {
		s.log.ErrorContext(ctx, "track failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
	var code codes.Code
	switch te.Kind {
	case track.KindInvalid, track.KindTooLarge, track.KindUnsupported:
		code = codes.InvalidArgument
	case track.KindRateLimited:
		code = codes.ResourceExhausted
	case track.KindOverloaded, track.KindUnavailable:
		code = codes.Unavailable
		if te.Kind == track.KindUnavailable {
			s.log.WarnContext(ctx, "batch not stored", "error", err)
		}
	default:
		s.log.ErrorContext(ctx, "track failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
	st := status.New(code, te.Code+": "+te.Message)
	var details []protoadapt.MessageV1
	if len(res.Errors) > 0 {
		br := &errdetails.BadRequest{}
		for _, e := range res.Errors {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: fmt.Sprintf("batch.events[%d].%s", e.Index, e.Field), Description: e.Message})
		}
		details = append(details, br)
	}
	if te.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(te.RetryAfter)})
	}
	if len(details) > 0 {
		if withDetails, err := st.WithDetails(details...); err == nil {
			st = withDetails
		}
	}
	return st.Err()
}

// Register adds the service to gs.
func Register(gs *grpc.Server, s *Server) { ingestv1.RegisterIngestServiceServer(gs, s) }
