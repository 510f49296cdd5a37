// Package opensearchx builds OpenSearch clients whose HTTP calls are traced,
// and holds the one way to call them: Do (a request, its error answer read
// to a bound and classified) and Bulk (an NDJSON _bulk body built action by
// action, and the answer to each action).
package opensearchx

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/credentials"
)

// Options configure a client.
type Options struct {
	URL      string
	Username string
	Password string
	// Tracing: every request becomes a client span in the caller's trace.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Transport, when set, carries the requests instead of a pool of the
	// client's own (tests share http.DefaultTransport's).
	Transport http.RoundTripper
}

// NewClient returns a client for opts.URL with a pooled, traced transport.
func NewClient(opts Options) (*opensearch.Client, error) {
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	if opts.TracerProvider != nil {
		rt = otelhttp.NewTransport(rt,
			otelhttp.WithTracerProvider(opts.TracerProvider),
			otelhttp.WithPropagators(opts.Propagator),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return "opensearch " + r.Method + " " + r.URL.Path
			}),
		)
	}
	c, err := opensearch.NewClient(opensearch.Config{
		Addresses:            []string{opts.URL},
		Username:             opts.Username,
		Password:             opts.Password,
		Transport:            rt,
		DisableRetry:         true, // callers own retries and back-off
		EnableRetryOnTimeout: false,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch client for %s: %w", credentials.RedactURLs(opts.URL), err)
	}
	return c, nil
}

// Ping returns an error unless the cluster answers and is at least yellow.
func Ping(c *opensearch.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := DoJSON(ctx, c, Request{Method: http.MethodGet, Path: "/_cluster/health"}, nil); err != nil {
			return fmt.Errorf("opensearch: cluster health: %w", err)
		}
		return nil
	}
}

// PutIndexTemplate stores a composable index template under name. PUT
// replaces a stored template, so putting the same body again changes nothing.
func PutIndexTemplate(ctx context.Context, c *opensearch.Client, name string, body []byte) error {
	if err := DoJSON(ctx, c, Request{Method: http.MethodPut, Path: "/_index_template/" + url.PathEscape(name), Body: body}, nil); err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	return nil
}
