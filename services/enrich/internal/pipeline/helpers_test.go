package pipeline_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	opensearchgo "github.com/opensearch-project/opensearch-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
	"github.com/evtrack/telemetry/services/enrich/internal/pipeline"
	"github.com/evtrack/telemetry/services/enrich/internal/templates"
)

// The tests of package pipeline_test run the pipeline against the real
// servers and the real OpenSearch adapter (bulk.Indexer), which imports
// package pipeline for its port: so they cannot be in package pipeline.

// harness is one test's own stream, subject and index prefix on the real
// servers, with the templates applied.
type harness struct {
	js      njs.JetStream
	stream  string
	subject string
	prefix  string
	osURL   string
	osc     *opensearchgo.Client
}

func newHarness(t *testing.T, stream njs.StreamConfig) *harness {
	t.Helper()
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "pipe")
	h := &harness{stream: strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		subject: strings.ReplaceAll(name, "-", "_") + ".events", prefix: name, osURL: osURL}
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h.js, _ = njs.New(nc)
	stream.Name, stream.Subjects, stream.MaxAge = h.stream, []string{h.subject + ".>"}, time.Hour
	if _, err := h.js.CreateStream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.js.DeleteStream(context.Background(), h.stream) })
	testenv.DeleteIndexData(t, osURL, name)
	h.osc = testenv.OpenSearch(t, osURL)
	if err := templates.Apply(context.Background(), h.osc, name, 0); err != nil {
		t.Fatal(err)
	}
	return h
}

// consumer creates (or returns) the test's durable consumer.
func (h *harness) consumer(t *testing.T, ackWait time.Duration) njs.Consumer {
	t.Helper()
	c, err := h.js.CreateOrUpdateConsumer(context.Background(), h.stream, njs.ConsumerConfig{Durable: "enrich",
		AckPolicy: njs.AckExplicitPolicy, AckWait: ackWait, MaxAckPending: 1000, MaxDeliver: -1, FilterSubject: h.subject + ".>"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) publish(t *testing.T, b *telemetryv1.EventBatch) {
	t.Helper()
	data, err := b.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(context.Background(), h.subject+".app", data); err != nil {
		t.Fatal(err)
	}
}

// config is a pipeline configuration for tests: one worker, quick flushes.
func (h *harness) config() pipeline.Config {
	return pipeline.Config{IndexPrefix: h.prefix, Workers: 1, FetchBatch: 50, FlushInterval: 100 * time.Millisecond, BulkMaxDocs: 1000,
		BulkMaxBytes: 8 << 20, BulkTimeout: 10 * time.Second, AckWait: 30 * time.Second, RetryDelay: 100 * time.Millisecond,
		MaxRetryDelay: time.Second, MaxDeliver: 5, MaxBackoff: time.Second}
}

// pipeline returns a pipeline over cons into idx, building documents
// without enrichment steps.
func (h *harness) pipeline(cons pipeline.Fetcher, idx pipeline.Indexer, cfg pipeline.Config) *pipeline.Pipeline {
	return pipeline.New(cons, idx, document.NewBuilder(h.prefix, nil, document.Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute}),
		cfg, slog.New(slog.DiscardHandler), metrics.New(prometheus.NewRegistry()), noop.NewTracerProvider(), propagation.TraceContext{})
}

// run runs a pipeline over cons until the test ends.
func (h *harness) run(t *testing.T, cons pipeline.Fetcher, idx pipeline.Indexer, cfg pipeline.Config) {
	t.Helper()
	testenv.Start(t, "pipeline", h.pipeline(cons, idx, cfg).Run)
}

// waitDrained waits until the consumer has acknowledged everything
// published so far.
func (h *harness) waitDrained(t *testing.T, cons njs.Consumer) {
	t.Helper()
	testenv.WaitDrained(t, h.js, h.stream, cons.CachedInfo().Name, 30*time.Second)
}

// count returns the documents of the prefix's daily indices, after a refresh.
func (h *harness) count(t *testing.T) int {
	t.Helper()
	return testenv.Count(t, h.osURL, eventdoc.Pattern(h.prefix))
}
