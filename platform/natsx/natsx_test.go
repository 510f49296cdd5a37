package natsx

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestHeaderCarrierRoundTrip(t *testing.T) {
	prop := propagation.TraceContext{}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{9, 9, 9}, SpanID: trace.SpanID{7}, TraceFlags: trace.FlagsSampled,
	})
	h := nats.Header{}
	prop.Inject(trace.ContextWithSpanContext(context.Background(), sc), HeaderCarrier(h))
	if h.Get("traceparent") == "" {
		t.Fatalf("no traceparent header in %v", h)
	}
	got := trace.SpanContextFromContext(prop.Extract(context.Background(), HeaderCarrier(h)))
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Fatalf("extracted %v, want %v", got, sc)
	}
	if keys := HeaderCarrier(h).Keys(); len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
}
