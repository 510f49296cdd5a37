// Package grpc is the ingest service's gRPC edge: IngestService/Track for
// server-side producers, with the same write keys, validation, limits and
// durability as POST /v1/track.
package grpc

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	ingestv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/ingest/v1"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// TrackMethod is the full name of the one method that needs a write key.
const TrackMethod = "/telemetry.ingest.v1.IngestService/Track"

// Server implements telemetry.ingest.v1.IngestService. Its Track method is
// registered by hand (Register) so that nothing is read before it is
// allowed: Authenticate (the server's InTapHandle) checks the write key from
// the headers before the stream exists, and the handler takes a request slot
// and the message's memory from the budget, within the caller's address's
// share of it, before it receives the message, which it then decodes within
// the batch limits like an HTTP body.
type Server struct {
	keys       *auth.WriteKeys
	tracker    *track.Tracker
	dec        *track.Decoder
	gate       *track.Gate
	budget     *track.AddressBudget
	maxMessage int64
	retryAfter time.Duration
	metrics    *metrics.Ingest
	log        *slog.Logger
}

// Options configure the gRPC edge.
type Options struct {
	Gate       *track.Gate
	Decoder    *track.Decoder
	MaxMessage int // the server's MaxRecvMsgSize: reserved from Budget while a message is received
	RetryAfter time.Duration
	Metrics    *metrics.Ingest
	// Budget is the decode budget shared by client address: the HTTP
	// edge's Options.AddressBudget, so that an address's gRPC messages and
	// HTTP bodies count against one share. Its share must hold MaxMessage.
	Budget *track.AddressBudget
}

// NewServer returns the IngestService implementation.
func NewServer(keys *auth.WriteKeys, tracker *track.Tracker, log *slog.Logger, opts Options) *Server {
	return &Server{keys: keys, tracker: tracker, dec: opts.Decoder, gate: opts.Gate, budget: opts.Budget,
		maxMessage: int64(opts.MaxMessage), retryAfter: opts.RetryAfter, metrics: opts.Metrics, log: log}
}

type appKey struct{}

// Authenticate is the server's tap handle: it runs on the headers of a new
// stream, before any message is read, and refuses a Track call without a
// valid write key. Other methods (health, reflection) pass.
func (s *Server) Authenticate(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != TrackMethod {
		return ctx, nil
	}
	if v := info.Header.Get("authorization"); len(v) > 0 {
		if appID, ok := s.keys.Authenticate(v[0]); ok {
			return context.WithValue(ctx, appKey{}, appID), nil
		}
	}
	s.metrics.Requests.WithLabelValues("grpc", codes.Unauthenticated.String()).Inc()
	return nil, status.Error(codes.Unauthenticated, "a valid write key is required: authorization: Bearer <write key>")
}

// rawMessage receives a message's bytes undecoded (see Codec).
type rawMessage struct{ b []byte }

// Codec is the server's codec: the standard protobuf codec, except that a
// *rawMessage receives the message's bytes as they are, so Track decodes
// them itself within its limits.
type Codec struct{ proto encoding.CodecV2 }

// NewCodec returns the codec wrapping the registered protobuf codec.
func NewCodec() Codec { return Codec{proto: encoding.GetCodecV2(protoenc.Name)} }

// Marshal implements encoding.CodecV2.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal implements encoding.CodecV2.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawMessage); ok {
		r.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// Name implements encoding.CodecV2.
func (Codec) Name() string { return protoenc.Name }

func (s *Server) handleTrack(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	start := time.Now()
	res, err := s.track(ctx, dec)
	s.metrics.RequestSeconds.WithLabelValues("grpc").Observe(time.Since(start).Seconds())
	s.metrics.Requests.WithLabelValues("grpc", status.Code(err).String()).Inc()
	return res, err
}

func (s *Server) track(ctx context.Context, dec func(any) error) (*ingestv1.TrackResponse, error) {
	appID, _ := ctx.Value(appKey{}).(string)
	if appID == "" {
		return nil, status.Error(codes.Unauthenticated, "a valid write key is required: authorization: Bearer <write key>")
	}
	release, err := s.gate.Enter(s.retryAfter)
	if err != nil {
		return nil, s.toStatus(ctx, track.Result{}, err)
	}
	defer release()
	clientIP := peerIP(ctx)
	// The message (inflated by gRPC up to maxMessage) is held until decoded.
	// It is reserved before it arrives (once a message's 5-byte prefix is in,
	// gRPC lets the client send all of the length it declares and holds it
	// until the message is whole), so a stalled call holds its reservation;
	// stalled calls from one address hold only that address's share.
	receiving, err := s.budget.Take(clientIP, s.maxMessage)
	if err != nil {
		return nil, s.toStatus(ctx, track.Result{}, err)
	}
	var raw rawMessage
	err = dec(&raw)
	if err != nil {
		receiving()
		return nil, err
	}
	req, decoded, err := s.dec.TrackRequest(raw.b)
	raw.b = nil
	receiving()
	if err != nil {
		return nil, s.toStatus(ctx, track.Result{}, err)
	}
	defer decoded()
	facts := track.Facts{AppID: appID, ClientIP: clientIP}
	md, _ := metadata.FromIncomingContext(ctx)
	if ua := md.Get("user-agent"); len(ua) > 0 {
		facts.UserAgent = ua[0]
	}
	res, err := s.tracker.Track(ctx, facts, req)
	if err != nil {
		return nil, s.toStatus(ctx, res, err)
	}
	return response(res), nil
}

// peerIP is the connecting address, without its port ("" if unknown). gRPC
// has no forwarded-for header to believe, so behind a proxy every caller is
// the proxy's address.
func peerIP(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return ""
	}
	return ap.Addr().Unmap().String()
}

func response(res track.Result) *ingestv1.TrackResponse {
	out := &ingestv1.TrackResponse{Accepted: int32(res.Accepted), Rejected: int32(res.Rejected), Duplicates: int32(res.Duplicates)}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, &ingestv1.EventError{Index: int32(e.Index), EventId: validUTF8(e.EventID), Field: validUTF8(e.Field), Message: validUTF8(e.Message)})
	}
	return out
}

// validUTF8 is s with what is not UTF-8 replaced: an error names what the
// client sent (an event id, a metadata key), and a protobuf string that is
// not UTF-8 makes the whole answer fail to encode — after the batch's valid
// events were stored.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// toStatus is the one place track errors become gRPC codes; as the HTTP
// edge sets Retry-After on every 429 and 503, RESOURCE_EXHAUSTED and
// UNAVAILABLE carry a RetryInfo (the error's own delay, else RetryAfter).
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
	case track.KindUnauthorized:
		code = codes.Unauthenticated
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
				Field: validUTF8(fmt.Sprintf("batch.events[%d].%s", e.Index, e.Field)), Description: validUTF8(e.Message)})
		}
		details = append(details, br)
	}
	if code == codes.ResourceExhausted || code == codes.Unavailable {
		delay := te.RetryAfter
		if delay <= 0 {
			delay = s.retryAfter
		}
		if delay > 0 {
			details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
		}
	}
	if len(details) > 0 {
		if withDetails, err := st.WithDetails(details...); err == nil {
			st = withDetails
		}
	}
	return st.Err()
}

// Register adds the service to gs, with Track handled by s.handleTrack. gs
// must be built with Authenticate as its InTapHandle, NewCodec as its codec,
// and no unary interceptors (Track does not call them).
func Register(gs *grpc.Server, s *Server) {
	desc := ingestv1.IngestService_ServiceDesc
	desc.Methods = []grpc.MethodDesc{{MethodName: "Track", Handler: s.handleTrack}}
	desc.HandlerType = (*any)(nil) // the methods are s's own, not an IngestServiceServer's
	gs.RegisterService(&desc, s)
}
