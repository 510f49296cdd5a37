package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
)

// tracedMsg is a message carrying a traceparent header.
type tracedMsg struct {
	*fakeMsg
	traceparent string
}

func (m tracedMsg) Headers() nats.Header { return nats.Header{"traceparent": []string{m.traceparent}} }

// TestBulkSpanInTheSampledTrace: a bulk request carrying the events of an
// unsampled request (a caller's own traceparent, not sampled) and of a
// sampled one is recorded in the sampled trace, whichever came first.
// Before, its parent was always the first message's span: behind an
// unsampled message, the sampled trace lost its OpenSearch call.
func TestBulkSpanInTheSampledTrace(t *testing.T) {
	const unsampled = "00-11111111111111111111111111111111-1111111111111111-00"
	const sampled = "00-22222222222222222222222222222222-2222222222222222-01"
	for _, tt := range []struct {
		name          string
		sampledSecond bool
	}{{"unsampled first", true}, {"sampled first", false}} {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)) // parent-based, as with an exporter
			cfg := testConfig()
			p := New(nil, &scriptedIndexer{}, document.NewBuilder(cfg.IndexPrefix, nil, document.Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute}), cfg,
				slog.New(slog.DiscardHandler), metrics.New(prometheus.NewRegistry()), tp, propagation.TraceContext{})
			u := tracedMsg{batchMsg(t, 1, ev{id: "a"}), unsampled}
			s := tracedMsg{batchMsg(t, 1, ev{id: "b"}), sampled}
			msgs := []njs.Msg{s, u}
			if tt.sampledSecond {
				msgs = []njs.Msg{u, s}
			}
			p.process(context.Background(), msgs)
			var names []string
			for _, sp := range rec.Ended() {
				if sp.SpanContext().TraceID().String() == "22222222222222222222222222222222" {
					names = append(names, sp.Name())
				}
			}
			if !slices.Contains(names, "opensearch bulk") {
				t.Fatalf("the sampled request's trace holds %q; want its opensearch bulk span", names)
			}
		})
	}
}
