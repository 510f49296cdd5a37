package audit

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestDroppedEntriesAreCounted: an entry that finds the queue full, and the
// entries of a batch the index refuses (here: nothing listens), are counted
// as dropped with their reason; none is counted as written.
func TestDroppedEntriesAreCounted(t *testing.T) {
	client, err := opensearchx.NewClient(opensearchx.Options{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(prometheus.NewRegistry())
	a := New(slog.New(slog.DiscardHandler), client, "audtest", m)
	e := Entry{Time: time.Now().UTC(), Principal: "token-x", Method: "SearchEvents", Status: "OK"}
	for range queueSize + 1 {
		a.Record(context.Background(), e)
	}
	queueFull, writeFailed := m.AuditDropped.WithLabelValues(metrics.AuditQueueFull), m.AuditDropped.WithLabelValues(metrics.AuditWriteFailed)
	if got := counterValue(t, queueFull); got != 1 {
		t.Fatalf("queue_full %v, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for counterValue(t, writeFailed) < queueSize && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if got := counterValue(t, writeFailed); got != queueSize {
		t.Errorf("write_failed %v, want %d", got, queueSize)
	}
	if got := counterValue(t, m.AuditWritten); got != 0 {
		t.Errorf("written %v, want 0", got)
	}
}
