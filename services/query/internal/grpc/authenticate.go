package grpc

import (
	"context"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	"github.com/evtrack/telemetry/platform/credentials"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

// Recorder takes audit entries; it must not block (audit.Auditor queues).
type Recorder interface {
	Record(ctx context.Context, e audit.Entry)
}

// Authenticator checks the read token of every QueryService call
// ("authorization: Bearer <token>", compared in constant time) and records
// every refusal in the audit trail. Health and reflection stay open.
//
// On the gRPC server it runs as the tap (Tap), on the request's headers
// before the message is read, so a caller without a valid token never gets
// a request decoded; Interceptor does the same for the in-process HTTP face
// and lets through calls the tap already authenticated.
type Authenticator struct {
	tokens   *auth.ReadTokens
	recorder Recorder
}

// NewAuthenticator returns an authenticator over tokens that records
// refusals with recorder.
func NewAuthenticator(tokens *auth.ReadTokens, recorder Recorder) *Authenticator {
	return &Authenticator{tokens: tokens, recorder: recorder}
}

// Tap is the gRPC server's grpc.InTapHandle: it marks every call as received
// over gRPC and authenticates QueryService calls from their headers alone.
// It runs on the connection's reader goroutine, so it only hashes and
// compares the token and queues the audit entry of a refusal.
func (a *Authenticator) Tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	ctx = audit.WithTransport(ctx, audit.TransportGRPC)
	if !isQueryService(info.FullMethodName) {
		return ctx, nil
	}
	return a.authenticate(ctx, methodName(info.FullMethodName), info.Header)
}

// Header authenticates an HTTP request from its headers alone, before its
// body is read: the HTTP face's counterpart of Tap for the requests that
// carry a body. what names the request in the audit entry of a refusal
// (never its path, which may hold a user id). The context it returns
// carries the principal, which Interceptor then takes as authenticated.
func (a *Authenticator) Header(ctx context.Context, what string, h http.Header) (context.Context, error) {
	return a.authenticate(ctx, what, metadata.MD{"authorization": h.Values("Authorization")})
}

// Interceptor authenticates calls that no tap has (those of the in-process
// HTTP face) from their incoming metadata.
func (a *Authenticator) Interceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !isQueryService(info.FullMethod) {
			return handler(ctx, req)
		}
		if _, ok := ctx.Value(principalKey{}).(auth.Principal); ok {
			return handler(ctx, req)
		}
		md, _ := metadata.FromIncomingContext(ctx)
		ctx, err := a.authenticate(ctx, methodName(info.FullMethod), md)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// authenticate returns ctx carrying the principal of md's read token, or
// records the refusal of method (its short name) and returns an
// Unauthenticated status. The audit entry
// names the caller by what it presented without revealing it: PrincipalNone
// for no token, "invalid-token-<8 hex of SHA-256>" for an unknown one (so
// repeated guesses, or a revoked token still in use, can be told apart).
func (a *Authenticator) authenticate(ctx context.Context, method string, md metadata.MD) (context.Context, error) {
	tok := bearer(md)
	if tok == "" {
		a.refuse(ctx, method, audit.PrincipalNone)
		return ctx, status.Error(codes.Unauthenticated, "a read token is required: authorization: Bearer <token>")
	}
	p, ok := a.tokens.Principal(tok)
	if !ok {
		a.refuse(ctx, method, credentials.Fingerprint("invalid-token", tok))
		return ctx, status.Error(codes.Unauthenticated, "unknown read token")
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

func (a *Authenticator) refuse(ctx context.Context, method, principal string) {
	a.recorder.Record(ctx, audit.Entry{Time: time.Now().UTC(), Principal: principal, Method: method,
		Transport: audit.TransportFrom(ctx), Status: codes.Unauthenticated.String()})
}

// bearer returns the token of md's "authorization: Bearer <token>", or "".
func bearer(md metadata.MD) string {
	v := md.Get("authorization")
	if len(v) == 0 {
		return ""
	}
	scheme, rest, ok := strings.Cut(v[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}

func methodName(fullMethod string) string { return fullMethod[strings.LastIndex(fullMethod, "/")+1:] }
