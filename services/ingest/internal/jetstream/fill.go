package jetstream

import (
	"context"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// FillCollector reports how full the stream is, read from the broker at each
// scrape: what it holds and the limits at which it refuses new batches.
type FillCollector struct {
	js      njs.JetStream
	name    string
	timeout time.Duration
	bytes   *prometheus.Desc
	msgs    *prometheus.Desc
	limit   *prometheus.Desc
	ratio   *prometheus.Desc
}

// NewFillCollector returns the collector of stream name.
func NewFillCollector(js njs.JetStream, name string, timeout time.Duration) *FillCollector {
	labels := prometheus.Labels{"stream": name}
	return &FillCollector{js: js, name: name, timeout: timeout,
		bytes: prometheus.NewDesc("ingest_stream_bytes", "Bytes the stream holds (batches not yet indexed).", nil, labels),
		msgs:  prometheus.NewDesc("ingest_stream_messages", "Batches the stream holds (not yet indexed).", nil, labels),
		limit: prometheus.NewDesc("ingest_stream_limit", "The stream's limits; at either it refuses new batches (503). -1: none.", []string{"kind"}, labels),
		ratio: prometheus.NewDesc("ingest_stream_fill_ratio", "The larger of bytes/max_bytes and messages/max_msgs (0 without limits); at 1 ingest answers 503.", nil, labels),
	}
}

// Describe implements prometheus.Collector.
func (c *FillCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.msgs
	ch <- c.limit
	ch <- c.ratio
}

// Collect implements prometheus.Collector; a broker that does not answer
// leaves the series out of this scrape.
func (c *FillCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s, err := c.js.Stream(ctx, c.name)
	if err != nil {
		return
	}
	info := s.CachedInfo()
	st, cfg := info.State, info.Config
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.GaugeValue, float64(st.Msgs))
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(cfg.MaxBytes), "max_bytes")
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(cfg.MaxMsgs), "max_msgs")
	ratio := 0.0
	if cfg.MaxBytes > 0 {
		ratio = float64(st.Bytes) / float64(cfg.MaxBytes)
	}
	if cfg.MaxMsgs > 0 {
		ratio = max(ratio, float64(st.Msgs)/float64(cfg.MaxMsgs))
	}
	ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, ratio)
}
