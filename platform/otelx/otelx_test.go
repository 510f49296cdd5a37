package otelx

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/evtrack/telemetry/platform/config"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"no endpoint: span ids made, nothing recorded or exported", nil, false},
		{"otlp http", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false},
		{"otlp grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false},
		{"unknown protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := Setup(context.Background(), config.MapLookup(tt.env), "svc", "v1")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if err != nil {
				return
			}
			_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "s")
			if !span.SpanContext().IsValid() {
				t.Error("span context not valid: trace ids would not reach logs or the next service")
			}
			span.End()
			// Nothing listens at the endpoints: bound the final export.
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				t.Logf("shutdown: %v (no collector listening)", err)
			}
		})
	}
}

// Without an endpoint nothing is exported, so a trace that starts here is not
// recorded — but its ids are real, for logs, the audit trail and the next
// service — and a trace a caller samples is recorded as it asked.
func TestNoEndpointRecordsOnlySampledParents(t *testing.T) {
	tel, err := Setup(context.Background(), config.MapLookup(nil), "svc", "v1")
	if err != nil {
		t.Fatal(err)
	}
	tracer := tel.TracerProvider.Tracer("t")
	_, root := tracer.Start(context.Background(), "root")
	defer root.End()
	if !root.SpanContext().IsValid() || root.IsRecording() || root.SpanContext().IsSampled() {
		t.Fatalf("root span: valid %v, recording %v, sampled %v; want valid ids, not recorded",
			root.SpanContext().IsValid(), root.IsRecording(), root.SpanContext().IsSampled())
	}
	carrier := propagation.MapCarrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx := tel.Propagator.Extract(context.Background(), carrier)
	_, child := tracer.Start(ctx, "child")
	defer child.End()
	if !child.IsRecording() || child.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("child of a sampled caller: recording %v, trace %s", child.IsRecording(), child.SpanContext().TraceID())
	}
}
