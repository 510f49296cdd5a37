// Package audit records every query-service call — allowed or refused, who
// read what, and how much — to the log and to daily audit indices, because
// reading a person's event history is access to personal data; and it
// deletes the audit indices older than their retention.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/opensearchx"
	"github.com/evtrack/telemetry/services/query/internal/deletion"
	"github.com/evtrack/telemetry/services/query/internal/metrics"
)

// Entry is one audited call. Every field is decided by the service, never
// taken from what the caller sent: Principal is the token's fingerprint (or
// PrincipalNone / an invalid token's fingerprint), Transport the edge that
// received the call, Status the gRPC code the call ended with. AppID is the
// app the call asked for (also among Filters), kept as a field of its own
// so the trail can be aggregated by app (the keys of the flat_object
// Filters cannot be); empty when the call named none or was refused before
// it was read.
type Entry struct {
	Time       time.Time         `json:"time"`
	Principal  string            `json:"principal"`
	Method     string            `json:"method"`
	AppID      string            `json:"app_id,omitempty"`
	Transport  string            `json:"transport"`
	Filters    map[string]string `json:"filters,omitempty"`
	Results    int64             `json:"results"`
	Status     string            `json:"status"`
	DurationMs float64           `json:"duration_ms"`
	TraceID    string            `json:"trace_id,omitempty"`
}

// PrincipalNone is the principal of a call that presented no token.
const PrincipalNone = "none"

// Auditor writes entries. The log line is written at once; index writes are
// batched (every second or 500 entries) off the request path, from a bounded
// queue that the writer drains on its tick (a call does not wake it unless
// a batch is waiting), each entry into the daily index of its time
// (eventdoc.AuditIndex). When the queue is full an entry is counted as
// dropped and logged at error level with its content, so the trail stays
// complete in the logs. Record never blocks. Entries written, and those
// dropped (queue full, or their batch could not be written), are counted in
// the service's metrics.
type Auditor struct {
	log         *slog.Logger
	client      *opensearch.Client
	prefix      string
	queue       chan Entry
	batchReady  chan struct{} // the queue holds a batch: write before the tick
	written     prometheus.Counter
	queueFull   prometheus.Counter
	writeFailed prometheus.Counter
	writeWithin time.Duration // bounds one write of a batch
	flushWithin time.Duration // bounds the writing after Run's context ends
}

// New returns an auditor writing to the audit indices of the events index
// prefix, counting in m. Call Run to start the writer.
func New(log *slog.Logger, client *opensearch.Client, prefix string, m *metrics.Query) *Auditor {
	return &Auditor{log: log, client: client, prefix: prefix, queue: make(chan Entry, queueSize), batchReady: make(chan struct{}, 1),
		writeWithin: writeTimeout, flushWithin: FlushTimeout, written: m.AuditWritten,
		queueFull: m.AuditDropped.WithLabelValues(metrics.AuditQueueFull), writeFailed: m.AuditDropped.WithLabelValues(metrics.AuditWriteFailed)}
}

// queueSize is how many entries may wait for the index; batchSize, how
// many are written in one request at most.
const (
	queueSize = 10000
	batchSize = 500
)

// writeTimeout bounds one write of a batch of entries; FlushTimeout, the
// writing left when the service stops.
const (
	writeTimeout = 10 * time.Second
	FlushTimeout = 5 * time.Second
)

// Record logs e and queues it for the index.
func (a *Auditor) Record(ctx context.Context, e Entry) {
	a.log.InfoContext(ctx, "audit", "principal", e.Principal, "method", e.Method, "app_id", e.AppID, "transport", e.Transport,
		"filters", e.Filters, "results", e.Results, "status", e.Status, "duration_ms", e.DurationMs)
	select {
	case a.queue <- e:
		// The writer is woken only for a full batch; otherwise it drains
		// the queue on its tick, so a query does not wake it.
		if len(a.queue) >= batchSize {
			select {
			case a.batchReady <- struct{}{}:
			default:
			}
		}
	default:
		a.queueFull.Inc()
		a.log.ErrorContext(ctx, "audit queue full; entry not indexed (it is in this log)", "principal", e.Principal, "method", e.Method)
	}
}

// Run writes queued entries until ctx ends, then drains the queue. Writing
// goes on after ctx ends for at most flushWithin: a write under way is not
// cut off when ctx ends, and the entries still queued are written in
// batches, until flushWithin has passed; what is not written by then is
// counted as dropped (its entries are in the log), so Run returns within
// flushWithin of ctx's end.
func (a *Auditor) Run(ctx context.Context) {
	wctx, stopWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWrites()
	context.AfterFunc(ctx, func() { // ends when Run returns (stopWrites)
		deadline := time.NewTimer(a.flushWithin)
		defer deadline.Stop()
		select {
		case <-deadline.C:
			stopWrites()
		case <-wctx.Done():
		}
	})
	t := time.NewTicker(time.Second)
	defer t.Stop()
	batch := make([]Entry, 0, batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		c, cancel := context.WithTimeout(wctx, a.writeWithin)
		defer cancel()
		if err := a.write(c, batch); err != nil {
			a.writeFailed.Add(float64(len(batch)))
			a.log.ErrorContext(ctx, "audit index write failed; entries are in this log", "error", err, "entries", len(batch))
		} else {
			a.written.Add(float64(len(batch)))
		}
		batch = batch[:0]
	}
	drain := func() {
		for {
			select {
			case e := <-a.queue:
				batch = append(batch, e)
				if len(batch) >= batchSize {
					flush()
				}
			default:
				flush()
				return
			}
		}
	}
	for {
		select {
		case <-a.batchReady:
			drain()
		case <-t.C:
			drain()
		case <-ctx.Done():
			drain()
			return
		}
	}
}

func (a *Auditor) write(ctx context.Context, entries []Entry) error {
	var body opensearchx.BulkBody
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		body.Index(eventdoc.AuditIndex(a.prefix, e.Time), "", b) // OpenSearch chooses the id
	}
	if err := opensearchx.BulkAll(ctx, a.client, &body); err != nil {
		return fmt.Errorf("audit bulk: %w", err)
	}
	return nil
}

// MethodDeletionCompleted is the method of the entry a deletion job writes
// when it completes (its request was audited as DeleteUser).
const MethodDeletionCompleted = "DeleteUserCompleted"

// TransportInternal marks entries of work the service did by itself.
const TransportInternal = "internal"

// Completed records a completed deletion job (deletion.Auditor): who asked,
// the app, the fingerprints of the ids (never the ids), and how many
// documents were deleted.
func (a *Auditor) Completed(ctx context.Context, j deletion.Job) {
	f := map[string]string{"job_id": j.ID, "deleted_events": fmt.Sprint(j.DeletedEvents), "deleted_dead_letters": fmt.Sprint(j.DeletedDeadLetters)}
	if j.UserFingerprint != "" {
		f["user_id"] = j.UserFingerprint
	}
	if j.AnonymousFingerprint != "" {
		f["anonymous_id"] = j.AnonymousFingerprint
	}
	a.Record(ctx, Entry{Time: time.Now().UTC(), Principal: j.Requester, Method: MethodDeletionCompleted, AppID: j.AppID,
		Transport: TransportInternal, Filters: f, Results: j.DeletedEvents + j.DeletedDeadLetters, Status: "OK"})
}
