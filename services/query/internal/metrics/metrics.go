// Package metrics defines the query service's Prometheus metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Why an audit entry did not reach the audit index.
const (
	AuditQueueFull   = "queue_full"
	AuditWriteFailed = "write_failed"
)

// Query holds every metric of the service; it is created once, registered
// on the service's own registry, and passed to the parts that record.
type Query struct {
	Requests              *prometheus.CounterVec
	RequestSeconds        *prometheus.HistogramVec
	RateLimited           prometheus.Counter
	AuditWritten          prometheus.Counter
	AuditDropped          *prometheus.CounterVec
	AuditIndicesDeleted   prometheus.Counter
	AuditRetentionFailure prometheus.Counter
	// DeletionJobs counts deletion jobs by outcome (completed);
	// DeletedDocuments the documents they deleted, by kind (event,
	// dead_letter); SuppressionsExpired the suppression entries removed
	// once over. No ids in labels.
	DeletionJobs        *prometheus.CounterVec
	DeletedDocuments    *prometheus.CounterVec
	SuppressionsExpired prometheus.Counter
}

// New creates the metrics and registers them (and the Go runtime and process
// collectors) on reg.
func New(reg prometheus.Registerer) *Query {
	f := promauto.With(reg)
	m := &Query{
		Requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "query_requests_total", Help: "QueryService calls by method, transport (grpc, http) and gRPC status code, refused ones included.",
		}, []string{"method", "transport", "code"}),
		RequestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "query_request_duration_seconds", Help: "QueryService call latency by method, from the audit interceptor to the answer (0 for calls refused without a valid token).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method"}),
		RateLimited: f.NewCounter(prometheus.CounterOpts{
			Name: "query_rate_limited_total", Help: "Calls refused by the per-token rate limit (429 / RESOURCE_EXHAUSTED).",
		}),
		AuditWritten: f.NewCounter(prometheus.CounterOpts{
			Name: "query_audit_entries_written_total", Help: "Audit entries written to the audit indices.",
		}),
		AuditDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "query_audit_entries_dropped_total", Help: "Audit entries that never reached the audit indices (they are in the log): queue_full, write_failed.",
		}, []string{"reason"}),
		AuditIndicesDeleted: f.NewCounter(prometheus.CounterOpts{
			Name: "query_audit_indices_deleted_total", Help: "Daily audit indices deleted by the retention.",
		}),
		AuditRetentionFailure: f.NewCounter(prometheus.CounterOpts{
			Name: "query_audit_retention_failures_total", Help: "Retention passes that failed (retried at the next pass).",
		}),
	}
	// Every reason from the start, so a rate over it is defined before the
	// first drop.
	m.DeletionJobs = f.NewCounterVec(prometheus.CounterOpts{
		Name: "query_deletion_jobs_total", Help: "Deletion jobs by outcome: completed.",
	}, []string{"outcome"})
	m.DeletedDocuments = f.NewCounterVec(prometheus.CounterOpts{
		Name: "query_deleted_documents_total", Help: "Documents deleted by deletion jobs, by kind: event, dead_letter.",
	}, []string{"kind"})
	m.SuppressionsExpired = f.NewCounter(prometheus.CounterOpts{
		Name: "query_suppressions_expired_total", Help: "Suppression entries removed from the list once their time was over.",
	})
	m.DeletionJobs.WithLabelValues("completed")
	m.DeletedDocuments.WithLabelValues("event")
	m.DeletedDocuments.WithLabelValues("dead_letter")
	m.AuditDropped.WithLabelValues(AuditQueueFull)
	m.AuditDropped.WithLabelValues(AuditWriteFailed)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
