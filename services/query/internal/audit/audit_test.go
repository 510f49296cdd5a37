package audit

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
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
	t.Parallel()
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
	stop := testenv.Start(t, "auditor", func(ctx context.Context) error { a.Run(ctx); return nil })
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%d entries counted as write_failed", queueSize), func() bool {
		return counterValue(t, writeFailed) >= queueSize
	})
	_ = stop() // waits for Run to return: nothing is written after this
	if got := counterValue(t, writeFailed); got != queueSize {
		t.Errorf("write_failed %v, want %d", got, queueSize)
	}
	if got := counterValue(t, m.AuditWritten); got != 0 {
		t.Errorf("written %v, want 0", got)
	}
}
