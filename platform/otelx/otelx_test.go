package otelx

import (
	"context"
	"testing"
	"time"

	"github.com/evtrack/telemetry/platform/config"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr bool
	}{
		{"no endpoint: spans made, nothing exported", nil, false},
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
