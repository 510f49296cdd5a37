// Package pipeline is the enrich use case: fetch batches from the durable
// consumer, turn their events into documents, bulk-index them, and ack each
// message only when every one of its events is in OpenSearch or in the
// dead-letter index.
//
// What a failure costs depends on whose it is (services/enrich/README.md,
// "Failures"):
//   - the document's (OpenSearch refuses what it contains): the document is
//     dead-lettered at once;
//   - the cluster's or the index's (unreachable, overloaded, refusing
//     writes): the worker keeps its messages, backs off and tries again,
//     fetching nothing more and marking them in progress, so no delivery is
//     spent; never dead-lettered;
//   - the message's own (anything else: a request that fails while the
//     cluster is well, an unknown refusal): the delivery is spent and the
//     message redelivered after a delay that doubles each time; on delivery
//     MaxDeliver its documents not yet written are dead-lettered with the
//     reason, and it is acked.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/platform/suppression"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
)

// Fetcher is the part of the durable consumer the pipeline uses.
type Fetcher interface {
	Fetch(batch int, opts ...njs.FetchOpt) (njs.MessageBatch, error)
}

// Config tunes fetching, bulk sizing and retries.
type Config struct {
	IndexPrefix   string
	Workers       int           // fetch → index → ack loops running at once (bulk requests in flight)
	FetchBatch    int           // messages per fetch
	FetchMaxBytes int           // message bytes per fetch (0: no bound); at least the largest message
	FlushInterval time.Duration // longest wait for a fetch to fill
	BulkMaxDocs   int           // documents per _bulk request
	BulkMaxBytes  int           // body bytes per _bulk request
	BulkTimeout   time.Duration // one _bulk call
	AckWait       time.Duration // the consumer's; messages kept longer are marked in progress
	RetryDelay    time.Duration // redelivery delay after a message's first failure; doubles per delivery
	MaxRetryDelay time.Duration // the longest redelivery delay
	MaxDeliver    int           // the delivery on which a failing message is dead-lettered (0: never)
	MaxBackoff    time.Duration // longest pause while OpenSearch cannot take writes
}

// Pipeline consumes one durable consumer.
type Pipeline struct {
	cons    Fetcher
	idx     Indexer
	builder *document.Builder
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Enrich
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	now     func() time.Time
	// lookups serialises, by a hash of the document id, the look-up and
	// the write of documents placed by delivery (document.Doc.Lookup), so
	// two workers holding two deliveries of one such event cannot both
	// miss the other: the second looks up (in real time) after the first
	// wrote.
	lookups [256]sync.Mutex
	recent  recentWrites
	// sup drops the events of people on the suppression list (nil: none).
	sup *suppression.Set
}

// Suppress makes the pipeline drop the events of the people on set's list,
// and hold its writes while set's lease is not current (see
// platform/suppression). Call it before Run.
func (p *Pipeline) Suppress(set *suppression.Set) { p.sup = set }

// mayWrite reports whether a write (a bulk request, the dead-lettering of
// a message's last delivery) may begin now: the suppression lease, if any,
// covers it whole. It is asked before each one, not once a batch: a batch
// may take many requests, and the lease may run out in between.
func (p *Pipeline) mayWrite() bool { return p.sup == nil || p.sup.MayWrite() }

// New returns a pipeline from cons into idx.
func New(cons Fetcher, idx Indexer, builder *document.Builder, cfg Config, log *slog.Logger, m *metrics.Enrich,
	tp trace.TracerProvider, prop propagation.TextMapPropagator) *Pipeline {
	return &Pipeline{cons: cons, idx: idx, builder: builder, cfg: cfg, log: log, metrics: m, prop: prop, now: time.Now,
		tracer: tp.Tracer("github.com/evtrack/telemetry/services/enrich/internal/pipeline")}
}

// Run runs cfg.Workers fetch → index → ack loops until ctx is cancelled.
// Several loops keep several bulk requests in flight. A batch already fetched
// when ctx is cancelled is still indexed and acked (bounded by BulkTimeout per
// request), so a graceful stop leaves nothing half done, unless OpenSearch
// cannot take it: then it is nak'ed, for another instance.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range max(p.cfg.Workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (p *Pipeline) loop(ctx context.Context) {
	opts := []njs.FetchOpt{njs.FetchMaxWait(p.cfg.FlushInterval)}
	if p.cfg.FetchMaxBytes > 0 {
		// The server stops filling the fetch at this many bytes, so a few
		// huge messages cannot make a worker hold gigabytes.
		opts = append(opts, njs.FetchMaxBytes(p.cfg.FetchMaxBytes))
	}
	for ctx.Err() == nil {
		if p.sup != nil && !p.sup.MayWrite() {
			// Its status could not be published: another process may be
			// deleting a person on the strength of it having run out.
			p.log.WarnContext(ctx, "suppression lease not current; not fetching")
			sleep(ctx, time.Second)
			continue
		}
		batch, err := p.cons.Fetch(p.cfg.FetchBatch, opts...)
		if err != nil {
			p.log.WarnContext(ctx, "fetch failed", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		var msgs []njs.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, njs.ErrNoMessages) {
			p.log.WarnContext(ctx, "fetch ended with error", "error", err, "messages", len(msgs))
		}
		if len(msgs) > 0 {
			p.process(ctx, msgs)
		}
	}
}

// docState is where one document of a message stands.
type docState uint8

const (
	docPending docState = iota // to be sent
	docDone                    // created, already present, or dead-lettered
	docWaiting                 // the cluster or its index cannot take it now
	docFailed                  // failed for a reason of its message's own
)

// failure is the last thing that went wrong for a message.
type failure struct {
	status    int
	errorType string
	reason    string
}

// inFlight is one fetched message and the documents built from it.
type inFlight struct {
	msg       njs.Msg
	ctx       context.Context
	span      trace.Span
	docs      []document.Doc
	state     []docState
	failure   failure
	delivered int // this delivery's number, from 1
	streamSeq uint64
	touched   time.Time // last sign of life sent to JetStream
}

func (it *inFlight) count(s docState) int {
	n := 0
	for _, st := range it.state {
		if st == s {
			n++
		}
	}
	return n
}

// process indexes msgs and acks, naks or dead-letters each. While the
// cluster cannot take some of their documents it keeps those messages:
// backs off (up to MaxBackoff), marks them in progress and sends their
// documents again, so they are neither redelivered nor delivered once more
// (a delivery JetStream would count); the worker fetches nothing meanwhile.
// If ctx ends during that wait, they are nak'ed, for another instance.
func (p *Pipeline) process(ctx context.Context, msgs []njs.Msg) {
	work := context.WithoutCancel(ctx)
	now := p.now()
	var filter *suppression.Filter
	if p.sup != nil {
		// Held until every message below is acked or nak'ed: the instance's
		// settled revision (platform/suppression) waits for it.
		filter = p.sup.Begin()
		defer filter.Done()
	}
	items := make([]*inFlight, 0, len(msgs))
	for _, m := range msgs {
		if it := p.start(work, m, now, filter); it != nil {
			items = append(items, it)
		}
	}
	var backoff time.Duration
	var heldSince time.Time
	for len(items) > 0 {
		if !p.mayWrite() {
			p.release(work, items, "suppression lease not current")
			return
		}
		p.round(work, items)
		waiting := items[:0]
		for _, it := range items {
			if it.count(docWaiting) > 0 {
				waiting = append(waiting, it)
				continue
			}
			p.finish(work, it)
		}
		items = waiting
		if len(items) == 0 {
			break
		}
		if !p.mayWrite() {
			p.release(work, items, "suppression lease not current")
			return
		}
		if ctx.Err() != nil {
			p.release(work, items, "stopping while OpenSearch cannot take writes")
			return
		}
		if heldSince.IsZero() {
			heldSince = p.now()
		}
		backoff = min(max(2*backoff, 250*time.Millisecond), p.cfg.MaxBackoff)
		f := items[0].failure
		p.log.WarnContext(items[0].ctx, "OpenSearch cannot take writes; holding messages and retrying", "messages", len(items),
			"status", f.status, "error_type", f.errorType, "reason", f.reason, "held_for", p.now().Sub(heldSince), "backoff", backoff)
		sleep(ctx, backoff)
		for _, it := range items {
			p.touch(it, true)
			for i, st := range it.state {
				if st == docWaiting {
					it.state[i] = docPending
				}
			}
		}
	}
	if !heldSince.IsZero() {
		p.log.InfoContext(ctx, "OpenSearch takes writes again", "held_for", p.now().Sub(heldSince))
	}
}

// start opens the message's span (continuing the ingest's trace) and builds
// its documents. A message that cannot be decoded is terminated and logged:
// no retry can make it decodable.
func (p *Pipeline) start(ctx context.Context, m njs.Msg, now time.Time, filter *suppression.Filter) *inFlight {
	mctx := p.prop.Extract(ctx, natsx.HeaderCarrier(m.Headers()))
	mctx, span := p.tracer.Start(mctx, "process "+m.Subject(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject())))
	meta, _ := m.Metadata()
	var batch telemetryv1.EventBatch
	err := batch.UnmarshalVT(m.Data())
	var docs []document.Doc
	if err == nil && filter != nil && p.drop(filter, &batch) && len(batch.Events) == 0 {
		// Every event of it belongs to people on the suppression list.
		p.metrics.Messages.WithLabelValues("acked").Inc()
		if aerr := m.Ack(); aerr != nil {
			p.log.WarnContext(mctx, "ack failed; the message will be redelivered (and dropped again)", "error", aerr)
		}
		span.End()
		return nil
	}
	if err == nil {
		docs, err = p.builder.Build(&batch, now)
	}
	if err != nil {
		p.log.ErrorContext(mctx, "undecodable message terminated", "error", err, "subject", m.Subject(), "stream_seq", streamSeq(meta))
		p.metrics.Messages.WithLabelValues("terminated").Inc()
		span.RecordError(err)
		span.SetStatus(codes.Error, "undecodable")
		span.End()
		_ = m.Term()
		return nil
	}
	it := &inFlight{msg: m, ctx: mctx, span: span, docs: docs, state: make([]docState, len(docs)),
		delivered: 1, streamSeq: streamSeq(meta), touched: now}
	if meta != nil && meta.NumDelivered > 1 {
		it.delivered = int(min(meta.NumDelivered, 1<<30))
	}
	span.SetAttributes(attribute.String("messaging.message.id", batch.BatchId), attribute.Int("messaging.batch.message_count", len(docs)),
		attribute.Int("messaging.delivery", it.delivered))
	return it
}

// drop removes from batch the events of people on the suppression list and
// reports whether it removed any. An entry's end is judged by when ingest
// received the batch, not by now: a batch received inside a suppression
// and fetched after it (behind a backlog) is still dropped. Only counts
// leave the pipeline: no id is logged or labelled.
func (p *Pipeline) drop(filter *suppression.Filter, batch *telemetryv1.EventBatch) bool {
	received := batch.GetReceivedAt().AsTime() // none (never from ingest): 1970, before any end
	kept := batch.Events[:0]
	for _, e := range batch.Events {
		if !filter.Suppressed(batch.AppId, e.GetUserId(), e.GetAnonymousId(), received) {
			kept = append(kept, e)
		}
	}
	dropped := len(batch.Events) - len(kept)
	batch.Events = kept
	if dropped > 0 {
		p.metrics.Suppressed.Add(float64(dropped))
	}
	return dropped > 0
}

// touch tells JetStream the message is still worked on, so its AckWait does
// not run out (which would redeliver it, a delivery counted) while
// OpenSearch is waited for or a long round runs. Without force, only when a
// quarter of AckWait has passed since the last time.
func (p *Pipeline) touch(it *inFlight, force bool) {
	now := p.now()
	if !force && now.Sub(it.touched) < p.cfg.AckWait/4 {
		return
	}
	it.touched = now
	if err := it.msg.InProgress(); err != nil {
		p.log.DebugContext(it.ctx, "in-progress signal failed", "error", err)
	}
}

func streamSeq(meta *njs.MsgMetadata) uint64 {
	if meta == nil {
		return 0
	}
	return meta.Sequence.Stream
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
