// Package http is the query service's HTTP/JSON face: the grpc-gateway
// generated from query.proto, calling the gRPC service in process through
// the gRPC server's interceptors so that authentication, validation and
// errors are the gRPC server's, plus the health and metrics endpoints.
package http

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/search"
)

// Authenticate checks an HTTP request's read token from its headers alone
// and returns a context carrying its principal, which srv then takes as
// authenticated; what names the request in the audit entry of a refusal.
type Authenticate func(ctx context.Context, what string, h http.Header) (context.Context, error)

// NewHandler returns the HTTP handler: /v1/... through the gateway to srv,
// /healthz, /readyz from checker, and GET /metrics from metrics (nil: none,
// it is served elsewhere). A request
// with a body is authenticated by authenticate before a byte of the body is
// read. corsOrigins lists the browser origins allowed to call /v1/ ("*" for
// any); empty sends no CORS headers.
func NewHandler(ctx context.Context, srv queryv1.QueryServiceServer, authenticate Authenticate, checker *health.Checker, metrics http.Handler,
	corsOrigins []string, tp trace.TracerProvider, prop propagation.TextMapPropagator) (http.Handler, error) {
	m := newMarshaler()
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
		// An answer is written whole with its length, not chunked: a
		// client knows a page's size before reading it.
		runtime.WithWriteContentLength(),
		strictQueryParameters(),
	)
	if err := queryv1.RegisterQueryServiceHandlerServer(ctx, gw, srv); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	mux := http.NewServeMux()
	checker.Register(mux)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.Handle("/v1/", cors(corsOrigins, otelhttp.NewHandler(receivedOverHTTP(guardBody(authenticate, m, gw)), "query-http",
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
		// Span names never carry the path: it holds user ids.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " /v1" }))))
	return mux, nil
}

// receivedOverHTTP marks every call as received by this edge, for the audit
// trail: the gateway passes the context on to the service, while any header
// (X-Forwarded-Host, Grpc-Metadata-*) is only metadata the caller chose. It
// also puts the path without its user id on the request's span (otelhttp
// records url.path as sent, and /v1/users/{user_id} names the person — the
// one a deletion erases).
func receivedOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := spanPath(r.URL.Path); p != r.URL.Path {
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.URLPath(p))
		}
		next.ServeHTTP(w, r.WithContext(audit.WithTransport(r.Context(), audit.TransportHTTP)))
	})
}

// usersPath starts the routes that carry a user id as a path segment.
const usersPath = "/v1/users/"

// spanPath is path with the user id of a /v1/users/{user_id}… route
// replaced by its name.
func spanPath(path string) string {
	rest, ok := strings.CutPrefix(path, usersPath)
	if !ok {
		return path
	}
	_, tail, _ := strings.Cut(rest, "/")
	if tail != "" {
		tail = "/" + tail
	}
	return usersPath + "{user_id}" + tail
}

// maxBody bounds the body of an HTTP request: the one route that takes a
// body (POST /v1/deletions) takes a few hundred bytes, and no valid request
// of any route encodes to more than search.MaxRequestBytes.
const maxBody = search.MaxRequestBytes

// guardBody lets a request with a body through only with a valid read token,
// checked from its headers before the body is read (the gateway decodes a
// body whole before the call's own authentication runs), and only with a
// body of at most maxBody bytes: a declared length over it is refused at
// once, a longer chunked body fails the gateway's decoding. Requests without
// a body go on as they are.
func guardBody(authenticate Authenticate, m runtime.Marshaler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, err := authenticate(r.Context(), r.Method+" /v1 with a body", r.Header)
		if err != nil {
			writeStatus(w, m, http.StatusUnauthorized, status.Convert(err))
			return
		}
		if r.ContentLength > maxBody {
			writeStatus(w, m, http.StatusRequestEntityTooLarge,
				status.Newf(codes.ResourceExhausted, "request body of %d bytes: at most %d", r.ContentLength, maxBody))
			return
		}
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// writeStatus answers code with st as the gateway writes an error.
func writeStatus(w http.ResponseWriter, m runtime.Marshaler, code int, st *status.Status) {
	b, err := m.Marshal(st.Proto())
	if err != nil {
		b = []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// cors answers preflight requests and marks responses for allowed origins.
// Tokens travel in the Authorization header, never in cookies, so no
// credentials mode is offered.
func cors(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowed["*"] || allowed[origin]) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
