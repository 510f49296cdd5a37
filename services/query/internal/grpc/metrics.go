package grpc

import (
	"context"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
	"github.com/evtrack/telemetry/services/query/internal/audit"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

// MeteredRecorder counts every audit entry in the request metrics before
// passing it on. Every QueryService call has exactly one entry — allowed or
// refused, including the calls the tap refuses before their message is
// read, which no interceptor sees — so the metrics count the very calls the
// audit trail records.
type MeteredRecorder struct {
	next    Recorder
	m       *metrics.Query
	methods map[string]bool
}

// Metered returns next, counting each entry in m.
func Metered(next Recorder, m *metrics.Query) *MeteredRecorder {
	methods := map[string]bool{}
	for _, md := range queryv1.QueryService_ServiceDesc.Methods {
		methods[md.MethodName] = true
	}
	return &MeteredRecorder{next: next, m: m, methods: methods}
}

// Record counts e by method, transport and status, observes its duration,
// and passes it on. A method QueryService does not have (a caller may send
// any name, with or without a token) is counted as "other", so callers
// cannot create label values.
func (r *MeteredRecorder) Record(ctx context.Context, e audit.Entry) {
	method := e.Method
	if !r.methods[method] {
		method = "other"
	}
	r.m.Requests.WithLabelValues(method, e.Transport, e.Status).Inc()
	r.m.RequestSeconds.WithLabelValues(method).Observe(e.DurationMs / 1000)
	r.next.Record(ctx, e)
}
