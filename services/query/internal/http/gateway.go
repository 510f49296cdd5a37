// Package http is the query service's HTTP/JSON face: the grpc-gateway
// generated from query.proto, calling the gRPC service in process through
// the gRPC server's interceptors so that authentication, validation and
// errors are the gRPC server's, plus the health and metrics endpoints.
package http

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/services/query/internal/audit"
)

// NewHandler returns the HTTP handler: /v1/... through the gateway to srv,
// /healthz, /readyz from checker, and GET /metrics from metrics.
// corsOrigins lists the browser origins allowed to call /v1/ ("*" for any);
// empty sends no CORS headers.
func NewHandler(ctx context.Context, srv queryv1.QueryServiceServer, checker *health.Checker, metrics http.Handler, corsOrigins []string,
	tp trace.TracerProvider, prop propagation.TextMapPropagator) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, newMarshaler()),
		// An answer is written whole with its length, not chunked: a
		// client knows a page's size before reading it.
		runtime.WithWriteContentLength(),
	)
	if err := queryv1.RegisterQueryServiceHandlerServer(ctx, gw, srv); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	mux := http.NewServeMux()
	checker.Register(mux)
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/v1/", cors(corsOrigins, otelhttp.NewHandler(receivedOverHTTP(gw), "query-http",
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
		// Span names never carry the path: it holds user ids.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " /v1" }))))
	return mux, nil
}

// receivedOverHTTP marks every call as received by this edge, for the audit
// trail: the gateway passes the context on to the service, while any header
// (X-Forwarded-Host, Grpc-Metadata-*) is only metadata the caller chose.
func receivedOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(audit.WithTransport(r.Context(), audit.TransportHTTP)))
	})
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
