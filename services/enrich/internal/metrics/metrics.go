// Package metrics defines the enrich service's Prometheus metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Enrich holds every metric of the service.
type Enrich struct {
	Documents     *prometheus.CounterVec
	Messages      *prometheus.CounterVec
	BulkSeconds   prometheus.Histogram
	BulkDocuments prometheus.Histogram
	BulkFailures  prometheus.Counter
	// ClusterRefusals counts documents (and whole requests) OpenSearch did
	// not take for a reason of the cluster's or the index's own, by error
	// type: retried, never dead-lettered. Alert on it.
	ClusterRefusals *prometheus.CounterVec
	// Lookups counts documents looked up across every event index before
	// being written (their index depends on the delivery).
	Lookups     prometheus.Counter
	Pending     prometheus.Gauge
	AckPending  prometheus.Gauge
	Redelivered prometheus.Gauge
	Indices     *prometheus.CounterVec
	// Suppressed counts events dropped because their user asked to be
	// deleted (no ids in labels).
	Suppressed prometheus.Counter
}

// New creates the metrics and registers them, with the Go and process
// collectors, on reg.
func New(reg prometheus.Registerer) *Enrich {
	f := promauto.With(reg)
	m := &Enrich{
		Documents: f.NewCounterVec(prometheus.CounterOpts{
			Name: "enrich_documents_total", Help: "Documents by outcome: created, already_present (a redelivery: the document, or its dead letter, is already there), dead_lettered, retried (the cluster could not take it), failed (its message's delivery is spent).",
		}, []string{"outcome"}),
		Messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "enrich_messages_total", Help: "JetStream messages by outcome: acked, redelivered (nak), dead_lettered (acked after its failing documents were dead-lettered on its last delivery), terminated (undecodable).",
		}, []string{"outcome"}),
		BulkSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "enrich_bulk_duration_seconds", Help: "Duration of one _bulk request.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		BulkDocuments: f.NewHistogram(prometheus.HistogramOpts{
			Name: "enrich_bulk_documents", Help: "Documents in one _bulk request.",
			Buckets: prometheus.ExponentialBuckets(10, 2, 10),
		}),
		BulkFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "enrich_bulk_failures_total", Help: "_bulk requests that failed as a whole (OpenSearch unreachable, 429/5xx).",
		}),
		ClusterRefusals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "enrich_cluster_refusals_total", Help: "Documents, or whole _bulk requests, OpenSearch did not take for a reason of the cluster or the index (unreachable, overloaded, blocked, closed, shard limit), by error type. Retried, never dead-lettered.",
		}, []string{"error_type"}),
		Lookups: f.NewCounter(prometheus.CounterOpts{
			Name: "enrich_lookups_total", Help: "Documents looked up across every daily index before being written: their client time was implausible, or their device clock far ahead, so their index depends on the delivery.",
		}),
		Pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "enrich_consumer_pending_messages", Help: "Messages in the stream not yet delivered to the consumer (the lag).",
		}),
		AckPending: f.NewGauge(prometheus.GaugeOpts{
			Name: "enrich_consumer_ack_pending_messages", Help: "Messages delivered and not yet acknowledged.",
		}),
		Redelivered: f.NewGauge(prometheus.GaugeOpts{
			Name: "enrich_consumer_redelivered_messages", Help: "Messages delivered more than once and not yet acknowledged.",
		}),
		Indices: f.NewCounterVec(prometheus.CounterOpts{
			Name: "enrich_indices_total", Help: "Daily indices looked after: deleted (past the retention, without ISM), compacted (a past day merged into one segment).",
		}, []string{"action"}),
		Suppressed: f.NewCounter(prometheus.CounterOpts{
			Name: "enrich_suppressed_events_total", Help: "Events dropped, not stored, because their user (app + user id or anonymous id) is on the suppression list of a deletion.",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
