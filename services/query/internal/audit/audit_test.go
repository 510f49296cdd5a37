package audit

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/platform/testenv"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

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
	if got := testutil.ToFloat64(queueFull); got != 1 {
		t.Fatalf("queue_full %v, want 1", got)
	}
	stop := testenv.Start(t, "auditor", func(ctx context.Context) error { a.Run(ctx); return nil })
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("%d entries counted as write_failed", queueSize), func() bool {
		return testutil.ToFloat64(writeFailed) >= queueSize
	})
	_ = stop() // waits for Run to return: nothing is written after this
	if got := testutil.ToFloat64(writeFailed); got != queueSize {
		t.Errorf("write_failed %v, want %d", got, queueSize)
	}
	if got := testutil.ToFloat64(m.AuditWritten); got != 0 {
		t.Errorf("written %v, want 0", got)
	}
}
