// Package otelx sets up the OpenTelemetry SDK for a service.
//
// Traces are exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the exporter reads the standard
// OTEL_* variables itself. Without an endpoint a request that starts a trace
// is not sampled: its spans still get ids, so trace ids reach logs and the
// audit trail and propagate to the next service (marked not sampled), but
// they record nothing, which nothing would read. A request that arrives in a
// sampled trace is recorded as before.
package otelx

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/config"
)

// Telemetry is what a service needs to trace: a provider and the propagator
// that carries context across HTTP, gRPC and NATS.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	shutdown       func(context.Context) error
}

// Shutdown flushes and stops the exporter; call it last, with a deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Propagator is W3C trace context plus baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// Settings is what Setup reads from the OTEL_* environment itself (the
// exporters read the other standard OTEL_EXPORTER_OTLP_* variables, such as
// headers and timeouts, on their own).
type Settings struct {
	// Endpoint is where traces go; empty means none are exported.
	Endpoint string
	// Protocol is "http/protobuf" (the default) or "grpc".
	Protocol string
}

// LoadSettings reads the exporter's endpoint and protocol from lookup.
func LoadSettings(lookup config.LookupFunc) (Settings, error) {
	r := config.NewReader(lookup)
	s := Settings{
		Endpoint: r.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", r.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")),
		Protocol: r.String("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", r.String("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")),
	}
	if s.Protocol != "grpc" && s.Protocol != "http/protobuf" {
		r.Failf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want grpc or http/protobuf", s.Protocol)
	}
	return s, r.Err()
}

// Setup builds the SDK for service from the OTEL_* environment.
func Setup(ctx context.Context, lookup config.LookupFunc, service, version string) (*Telemetry, error) {
	s, err := LoadSettings(lookup)
	if err != nil {
		return nil, err
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service), semconv.ServiceVersion(version)))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if s.Endpoint != "" {
		var exp sdktrace.SpanExporter
		switch s.Protocol {
		case "grpc":
			exp, err = otlptracegrpc.New(ctx)
		default: // http/protobuf
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else {
		opts = append(opts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	return &Telemetry{TracerProvider: tp, Propagator: Propagator(), shutdown: tp.Shutdown}, nil
}

// ForTest wraps a provider the test owns (for example one with an in-memory
// span recorder).
func ForTest(tp trace.TracerProvider) *Telemetry {
	return &Telemetry{TracerProvider: tp, Propagator: Propagator()}
}
