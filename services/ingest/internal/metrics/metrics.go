// Package metrics defines the ingest service's Prometheus metrics.
package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Ingest holds every metric of the service; it is created once, registered on
// the service's own registry, and passed to the parts that record.
type Ingest struct {
	Requests          *prometheus.CounterVec
	RequestSeconds    *prometheus.HistogramVec
	Events            *prometheus.CounterVec
	PublishSeconds    prometheus.Histogram
	PublishesInFlight prometheus.Gauge
	PublishFailures   prometheus.Counter
	StreamFull        prometheus.Counter
}

// New creates the metrics and registers them (and the Go runtime and process
// collectors) on reg.
func New(reg prometheus.Registerer) *Ingest {
	f := promauto.With(reg)
	m := &Ingest{
		Requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_requests_total", Help: "Track requests by transport and response status.",
		}, []string{"transport", "status"}),
		RequestSeconds: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ingest_request_duration_seconds", Help: "Track request latency, from the body read to the response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"transport"}),
		Events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_events_total", Help: "Events by outcome (accepted, rejected, duplicate) and, for rejected ones, the field at fault.",
		}, []string{"outcome", "reason"}),
		PublishSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name: "ingest_publish_duration_seconds", Help: "Time from publishing a batch to JetStream's acknowledgement.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
		}),
		PublishesInFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_publishes_in_flight", Help: "Batches published and waiting for JetStream's acknowledgement.",
		}),
		PublishFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "ingest_publish_failures_total", Help: "Publishes JetStream refused or did not acknowledge in time (answered 503, or 413 for a batch over its message limit).",
		}),
		StreamFull: f.NewCounter(prometheus.CounterOpts{
			Name: "ingest_stream_full_total", Help: "Publishes the stream refused because it is at its byte or message limit (answered 503).",
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Reason turns an event error's field into a label value from a small fixed
// set: metadata keys are the client's choice and must not become labels.
func Reason(field string) string {
	switch {
	case strings.HasPrefix(field, "metadata"):
		return "metadata"
	case field == "(event)":
		return "event"
	default:
		return field
	}
}
