package grpc

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/auth"
)

type entries struct {
	mu   sync.Mutex
	list []audit.Entry
}

func (e *entries) Record(_ context.Context, en audit.Entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, en)
}

const validToken = "0123456789abcdef-valid"

func newAuthenticator(t *testing.T) (*Authenticator, *entries) {
	t.Helper()
	tokens, err := auth.ParseReadTokens(validToken + ":app-a")
	if err != nil {
		t.Fatal(err)
	}
	rec := &entries{}
	return NewAuthenticator(tokens, rec), rec
}

// TestTap: the tap marks every call as gRPC, lets health and reflection
// through, and for QueryService refuses a missing or unknown token
// (recording it without the token) and attaches the principal of a valid one.
func TestTap(t *testing.T) {
	search := queryv1.QueryService_SearchEvents_FullMethodName
	tests := []struct {
		name          string
		method        string
		header        metadata.MD
		wantCode      codes.Code
		wantPrincipal string // in the audit entry of a refusal, or "" for none
	}{
		{"health without token", "/grpc.health.v1.Health/Check", nil, codes.OK, ""},
		{"no token", search, nil, codes.Unauthenticated, audit.PrincipalNone},
		{"not bearer", search, metadata.Pairs("authorization", "Basic "+validToken), codes.Unauthenticated, audit.PrincipalNone},
		{"unknown token", search, metadata.Pairs("authorization", "Bearer guessed-0123456789"), codes.Unauthenticated, "invalid-token-"},
		{"valid token", search, metadata.Pairs("authorization", "Bearer "+validToken), codes.OK, ""},
		{"valid token, lower-case scheme", search, metadata.Pairs("authorization", "bearer "+validToken), codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := newAuthenticator(t)
			ctx, err := a.Tap(context.Background(), &tap.Info{FullMethodName: tt.method, Header: tt.header})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("err %v, want %v", err, tt.wantCode)
			}
			if got := audit.TransportFrom(ctx); got != audit.TransportGRPC {
				t.Errorf("transport %q", got)
			}
			if tt.wantPrincipal == "" {
				if len(rec.list) != 0 {
					t.Errorf("recorded %v", rec.list)
				}
				if tt.wantCode == codes.OK && tt.method == search && !principalFrom(ctx).CanRead("app-a") {
					t.Errorf("no principal in the context")
				}
				return
			}
			if len(rec.list) != 1 {
				t.Fatalf("recorded %v, want one refusal", rec.list)
			}
			e := rec.list[0]
			if !strings.HasPrefix(e.Principal, tt.wantPrincipal) || e.Method != "SearchEvents" || e.Transport != audit.TransportGRPC ||
				e.Status != codes.Unauthenticated.String() || strings.Contains(e.Principal, "guessed") {
				t.Errorf("entry %+v", e)
			}
		})
	}
}

// TestInterceptorAuthenticatesOnlyWhatTheTapDidNot: a call the tap
// authenticated is not checked again; one without (the HTTP face) is
// authenticated from its metadata and a refusal is recorded with the
// transport the edge set.
func TestInterceptorAuthenticatesOnlyWhatTheTapDidNot(t *testing.T) {
	a, rec := newAuthenticator(t)
	info := &grpc.UnaryServerInfo{FullMethod: queryv1.QueryService_GetEvent_FullMethodName}
	var seen auth.Principal
	handler := func(ctx context.Context, _ any) (any, error) { seen = principalFrom(ctx); return "ok", nil }

	tapped, err := a.Tap(context.Background(), &tap.Info{FullMethodName: info.FullMethod, Header: metadata.Pairs("authorization", "Bearer "+validToken)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Interceptor()(tapped, nil, info, handler); err != nil || !seen.CanRead("app-a") {
		t.Fatalf("tapped call: %v, principal %+v", err, seen)
	}

	overHTTP := audit.WithTransport(context.Background(), audit.TransportHTTP)
	ok := metadata.NewIncomingContext(overHTTP, metadata.Pairs("authorization", "Bearer "+validToken))
	seen = auth.Principal{}
	if _, err := a.Interceptor()(ok, nil, info, handler); err != nil || !seen.CanRead("app-a") {
		t.Fatalf("HTTP call with a valid token: %v, principal %+v", err, seen)
	}
	bad := metadata.NewIncomingContext(overHTTP, metadata.Pairs("authorization", "Bearer guessed-0123456789", "x-forwarded-host", "x"))
	if _, err := a.Interceptor()(bad, nil, info, handler); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("HTTP call with an unknown token: %v", err)
	}
	if len(rec.list) != 1 || rec.list[0].Transport != audit.TransportHTTP || rec.list[0].Method != "GetEvent" {
		t.Fatalf("recorded %+v", rec.list)
	}
}

// TestAuditTransportIsNotMetadata: the audit entry's transport is the
// edge's mark, whatever gateway-looking metadata the caller sent.
func TestAuditTransportIsNotMetadata(t *testing.T) {
	forged := metadata.Pairs("x-forwarded-host", "gateway.example.com", "grpcgateway-user-agent", "curl")
	info := &grpc.UnaryServerInfo{FullMethod: queryv1.QueryService_GetEvent_FullMethodName}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"gRPC edge", audit.WithTransport(metadata.NewIncomingContext(context.Background(), forged), audit.TransportGRPC), audit.TransportGRPC},
		{"HTTP edge", audit.WithTransport(metadata.NewIncomingContext(context.Background(), nil), audit.TransportHTTP), audit.TransportHTTP},
		{"no edge", metadata.NewIncomingContext(context.Background(), forged), audit.TransportUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &entries{}
			_, _ = AuditInterceptor(rec)(tt.ctx, &queryv1.GetEventRequest{EventId: "e"}, info,
				func(context.Context, any) (any, error) { return &queryv1.GetEventResponse{}, nil })
			if len(rec.list) != 1 || rec.list[0].Transport != tt.want {
				t.Fatalf("recorded %+v, want transport %s", rec.list, tt.want)
			}
		})
	}
}
