package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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

// TestShutdownIsBounded: when the service stops while the index does not
// answer, Run still returns within its flush bound — the write under way is
// given up when the bound passes, the entries still queued are not waited
// for one write timeout each — and every entry not written is counted as
// dropped.
func TestShutdownIsBounded(t *testing.T) {
	t.Parallel()
	var bulks atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then a client that goes away ends r's context
		bulks.Add(1)
		<-r.Context().Done() // never answers: the client gives up
	}))
	t.Cleanup(hang.Close)
	client := testenv.OpenSearch(t, hang.URL)
	m := metrics.New(prometheus.NewRegistry())
	a := New(slog.New(slog.DiscardHandler), client, "audtest", m)
	a.writeWithin, a.flushWithin = time.Hour, 200*time.Millisecond
	const entries = 3*batchSize + 1
	e := Entry{Time: time.Now().UTC(), Principal: "token-x", Method: "SearchEvents", Status: "OK"}
	stop := testenv.Start(t, "auditor", func(ctx context.Context) error { a.Run(ctx); return nil })
	for range entries {
		a.Record(context.Background(), e)
	}
	testenv.Eventually(t, 10*time.Second, "a batch is being written", func() bool { return bulks.Load() > 0 })

	start := time.Now()
	_ = stop()
	// Far under the one write's bound (an hour): the flush bound cut it.
	if took := time.Since(start); took > time.Minute {
		t.Errorf("Run returned %v after its context ended; want about its flush bound (200ms)", took)
	}
	writeFailed := m.AuditDropped.WithLabelValues(metrics.AuditWriteFailed)
	if got := testutil.ToFloat64(writeFailed); got != entries {
		t.Errorf("write_failed %v, want %d (every entry)", got, entries)
	}
	if got := testutil.ToFloat64(m.AuditWritten); got != 0 {
		t.Errorf("written %v, want 0", got)
	}
}
