package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
	"github.com/evtrack/telemetry/services/enrich/internal/opensearch"
)

// crashAfterBulk indexes for real, then never returns: the process "dies"
// between the bulk call and the acks.
type crashAfterBulk struct {
	Indexer
	crashed atomic.Bool
}

func (c *crashAfterBulk) Index(ctx context.Context, docs []document.Doc) ([]opensearch.ItemResult, error) {
	res, err := c.Indexer.Index(ctx, docs)
	if err == nil {
		c.crashed.Store(true)
		select {} // never acks
	}
	return res, err
}

// TestCrashBetweenBulkAndAck: the first enrich instance writes the documents
// and dies before acking; after AckWait a second instance gets the same
// messages again. Every event exists exactly once.
func TestCrashBetweenBulkAndAck(t *testing.T) {
	natsURL, osURL := testenv.NATSURL(t), testenv.OpenSearchURL(t)
	name := testenv.Name(t, "crash")
	stream := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	subject := strings.ReplaceAll(name, "-", "_") + ".events"
	ctx := context.Background()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := njs.New(nc)
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: stream, Subjects: []string{subject + ".>"}, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream) })
	testenv.DeleteIndexData(t, osURL, name)
	consumer := func() njs.Consumer {
		c, err := js.CreateOrUpdateConsumer(ctx, stream, njs.ConsumerConfig{Durable: "enrich", AckPolicy: njs.AckExplicitPolicy,
			AckWait: 2 * time.Second, MaxAckPending: 1000, MaxDeliver: -1, FilterSubject: subject + ".>"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	osc, err := opensearchx.NewClient(opensearchx.Options{URL: osURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := opensearch.ApplyTemplates(ctx, osc, name); err != nil {
		t.Fatal(err)
	}
	const events = 40
	received := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < 4; i++ {
		b := &telemetryv1.EventBatch{BatchId: fmt.Sprint(i), AppId: "app", ReceivedAt: timestamppb.New(received)}
		for j := 0; j < events/4; j++ {
			b.Events = append(b.Events, &telemetryv1.Event{EventId: fmt.Sprintf("e%d-%d", i, j), UserId: "u", EventName: "x",
				ClientTimestamp: timestamppb.New(received)})
		}
		data, _ := b.MarshalVT()
		if _, err := js.Publish(ctx, subject+".app", data); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{IndexPrefix: name, Workers: 1, FetchBatch: 10, FlushInterval: 100 * time.Millisecond, BulkMaxDocs: 1000,
		BulkMaxBytes: 8 << 20, BulkTimeout: 10 * time.Second, AckWait: 2 * time.Second, RetryDelay: time.Second,
		MaxRetryDelay: time.Second, MaxDeliver: 20, MaxBackoff: time.Second}
	builder := document.NewBuilder(name, nil, document.Placement{MaxAge: 30 * 24 * time.Hour, MaxFuture: 10 * time.Minute})
	newPipeline := func(idx Indexer) *Pipeline {
		return New(consumer(), idx, builder, cfg, slog.New(slog.DiscardHandler), metrics.New(prometheus.NewRegistry()),
			noop.NewTracerProvider(), propagation.TraceContext{})
	}

	crashing := &crashAfterBulk{Indexer: opensearch.NewBulkIndexer(osc)}
	first, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	go func() { _ = newPipeline(crashing).Run(first) }()
	for deadline := time.Now().Add(20 * time.Second); !crashing.crashed.Load(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first instance never indexed")
		}
	}

	second, stopSecond := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- newPipeline(opensearch.NewBulkIndexer(osc)).Run(second) }()
	defer func() { stopSecond(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := consumer().Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res, err := http.Post(osURL+"/"+eventdoc.Pattern(name)+"/_refresh", "application/json", nil); err == nil {
		res.Body.Close()
	}
	res, err := http.Get(osURL + "/" + eventdoc.Pattern(name) + "/_count")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var count struct {
		Count int `json:"count"`
	}
	if err := decodeJSON(res, &count); err != nil {
		t.Fatal(err)
	}
	if count.Count != events {
		t.Fatalf("%d documents after the crash and redelivery, want %d (one per event)", count.Count, events)
	}
}
