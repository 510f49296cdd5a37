// Package pipeline is the enrich use case: fetch batches from the durable
// consumer, turn their events into documents, bulk-index them, and ack each
// message only when every one of its events is in OpenSearch (or, if
// OpenSearch refused it as malformed, in the dead-letter index).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/services/enrich/internal/document"
	"github.com/evtrack/telemetry/services/enrich/internal/metrics"
	"github.com/evtrack/telemetry/services/enrich/internal/opensearch"
)

// Indexer writes documents and reports each one's outcome in order, and
// keeps refused documents in a dead-letter index.
type Indexer interface {
	Index(ctx context.Context, docs []document.Doc) ([]opensearch.ItemResult, error)
	DeadLetter(ctx context.Context, index string, letters []eventdoc.DeadLetter) error
}

// Config tunes fetching and bulk sizing.
type Config struct {
	IndexPrefix   string
	Workers       int           // fetch → index → ack loops running at once (bulk requests in flight)
	FetchBatch    int           // messages per fetch
	FlushInterval time.Duration // longest wait for a fetch to fill
	BulkMaxDocs   int           // documents per _bulk request
	BulkMaxBytes  int           // body bytes per _bulk request
	BulkTimeout   time.Duration // one _bulk call
	RetryDelay    time.Duration // redelivery delay for a message that could not be indexed
	MaxBackoff    time.Duration // longest pause while OpenSearch fails
}

// Pipeline consumes one durable consumer.
type Pipeline struct {
	cons    njs.Consumer
	idx     Indexer
	builder *document.Builder
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Enrich
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	now     func() time.Time
}

// New returns a pipeline from cons into idx.
func New(cons njs.Consumer, idx Indexer, builder *document.Builder, cfg Config, log *slog.Logger, m *metrics.Enrich,
	tp trace.TracerProvider, prop propagation.TextMapPropagator) *Pipeline {
	return &Pipeline{cons: cons, idx: idx, builder: builder, cfg: cfg, log: log, metrics: m, prop: prop, now: time.Now,
		tracer: tp.Tracer("github.com/evtrack/telemetry/services/enrich/internal/pipeline")}
}

// Run runs cfg.Workers fetch → index → ack loops until ctx is cancelled.
// Several loops keep several bulk requests in flight. A batch already fetched
// when ctx is cancelled is still indexed and acked (bounded by BulkTimeout per
// request), so a graceful stop leaves nothing half done; whatever was not acked
// is redelivered after AckWait.
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
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		batch, err := p.cons.Fetch(p.cfg.FetchBatch, njs.FetchMaxWait(p.cfg.FlushInterval))
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
		if len(msgs) == 0 {
			continue
		}
		if p.process(context.WithoutCancel(ctx), msgs) {
			backoff = 0
			continue
		}
		// OpenSearch could not take the batch: pause this loop instead of
		// fetching more; the messages wait in JetStream.
		backoff = min(max(2*backoff, 250*time.Millisecond), p.cfg.MaxBackoff)
		p.log.WarnContext(ctx, "indexing failed; backing off", "backoff", backoff)
		sleep(ctx, backoff)
	}
}

// inFlight is one fetched message and the documents built from it.
type inFlight struct {
	msg     njs.Msg
	ctx     context.Context
	span    trace.Span
	docs    []document.Doc
	pending int  // documents not yet settled
	retry   bool // some document needs another try
	reason  string
}

// process indexes msgs and acks or naks each; it reports false when
// OpenSearch could not be used at all.
func (p *Pipeline) process(ctx context.Context, msgs []njs.Msg) bool {
	items := make([]*inFlight, 0, len(msgs))
	now := p.now()
	for _, m := range msgs {
		if it := p.start(ctx, m, now); it != nil {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		return true
	}
	ok := true
	for _, chunk := range p.chunks(items) {
		if !p.bulk(ctx, chunk) {
			ok = false
		}
	}
	for _, it := range items {
		p.finish(it)
	}
	return ok
}

// start opens the message's span (continuing the ingest's trace) and builds
// its documents. A message that cannot be decoded is terminated and logged:
// no retry can make it decodable.
func (p *Pipeline) start(ctx context.Context, m njs.Msg, now time.Time) *inFlight {
	mctx := p.prop.Extract(ctx, natsx.HeaderCarrier(m.Headers()))
	mctx, span := p.tracer.Start(mctx, "process "+m.Subject(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject())))
	var batch telemetryv1.EventBatch
	err := batch.UnmarshalVT(m.Data())
	var docs []document.Doc
	if err == nil {
		docs, err = p.builder.Build(&batch, now)
	}
	if err != nil {
		meta, _ := m.Metadata()
		p.log.ErrorContext(mctx, "undecodable message terminated", "error", err, "subject", m.Subject(), "stream_seq", streamSeq(meta))
		p.metrics.Messages.WithLabelValues("terminated").Inc()
		span.RecordError(err)
		span.SetStatus(codes.Error, "undecodable")
		span.End()
		_ = m.Term()
		return nil
	}
	span.SetAttributes(attribute.String("messaging.message.id", batch.BatchId), attribute.Int("messaging.batch.message_count", len(docs)))
	return &inFlight{msg: m, ctx: mctx, span: span, docs: docs, pending: len(docs)}
}

// docRef points at one document of one message.
type docRef struct {
	it  *inFlight
	doc document.Doc
}

// chunks splits the documents into bulk requests bounded by count and bytes.
func (p *Pipeline) chunks(items []*inFlight) [][]docRef {
	var out [][]docRef
	var cur []docRef
	size := 0
	for _, it := range items {
		for _, d := range it.docs {
			n := len(d.Body) + len(d.ID) + len(d.Index) + 40
			if len(cur) > 0 && (len(cur) >= p.cfg.BulkMaxDocs || size+n > p.cfg.BulkMaxBytes) {
				out = append(out, cur)
				cur, size = nil, 0
			}
			cur = append(cur, docRef{it, d})
			size += n
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// bulk sends one chunk. Its span belongs to the trace of the chunk's first
// message and links to every other message's span.
func (p *Pipeline) bulk(ctx context.Context, chunk []docRef) bool {
	var links []trace.Link
	seen := map[*inFlight]bool{}
	for _, r := range chunk {
		if !seen[r.it] {
			seen[r.it] = true
			links = append(links, trace.LinkFromContext(r.it.ctx))
		}
	}
	bctx, span := p.tracer.Start(trace.ContextWithSpan(ctx, trace.SpanFromContext(chunk[0].it.ctx)), "opensearch bulk",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("db.system", "opensearch"), attribute.Int("db.operation.batch.size", len(chunk))))
	defer span.End()
	bctx, cancel := context.WithTimeout(bctx, p.cfg.BulkTimeout)
	defer cancel()

	docs := make([]document.Doc, len(chunk))
	for i, r := range chunk {
		docs[i] = r.doc
	}
	start := time.Now()
	results, err := p.idx.Index(bctx, docs)
	p.metrics.BulkSeconds.Observe(time.Since(start).Seconds())
	p.metrics.BulkDocuments.Observe(float64(len(docs)))
	if err != nil {
		p.metrics.BulkFailures.Inc()
		span.RecordError(err)
		span.SetStatus(codes.Error, "bulk failed")
		p.log.WarnContext(bctx, "bulk request failed", "error", err, "documents", len(docs))
		for _, r := range chunk {
			r.it.retry, r.it.reason = true, err.Error()
		}
		return false
	}
	var created, exists, retried int
	var letters []eventdoc.DeadLetter
	var lettered []*inFlight
	failedAt := p.now().UTC()
	for i, res := range results {
		it := chunk[i].it
		switch res.Outcome {
		case opensearch.Created:
			created++
			it.pending--
		case opensearch.Exists:
			exists++
			it.pending--
		case opensearch.Retry:
			retried++
			it.retry, it.reason = true, fmt.Sprintf("status %d: %s", res.Status, res.Reason)
		case opensearch.Rejected:
			d := chunk[i].doc
			letters = append(letters, eventdoc.DeadLetter{DocID: d.ID, AppID: d.AppID, EventID: d.EventID, Index: d.Index,
				Status: res.Status, ErrorType: res.ErrorType, ErrorReason: res.Reason, FailedAt: failedAt, Document: d.Body})
			lettered = append(lettered, it)
		}
	}
	p.metrics.Documents.WithLabelValues("created").Add(float64(created))
	p.metrics.Documents.WithLabelValues("already_present").Add(float64(exists))
	p.metrics.Documents.WithLabelValues("retried").Add(float64(retried))
	if len(letters) > 0 {
		p.deadLetter(bctx, letters, lettered)
	}
	span.SetAttributes(attribute.Int("telemetry.created", created), attribute.Int("telemetry.already_present", exists),
		attribute.Int("telemetry.retried", retried), attribute.Int("telemetry.dead_lettered", len(letters)))
	if retried > 0 {
		span.SetStatus(codes.Error, "some documents will be retried")
	}
	return true
}

// deadLetter keeps refused documents with their reasons; they then count as
// settled. If even that write fails, their messages are redelivered.
func (p *Pipeline) deadLetter(ctx context.Context, letters []eventdoc.DeadLetter, owners []*inFlight) {
	index := eventdoc.DeadLetterIndex(p.cfg.IndexPrefix)
	if err := p.idx.DeadLetter(ctx, index, letters); err != nil {
		p.log.ErrorContext(ctx, "dead-letter write failed; redelivering", "error", err, "documents", len(letters))
		for _, it := range owners {
			it.retry, it.reason = true, "dead-letter write failed: "+err.Error()
		}
		return
	}
	p.metrics.Documents.WithLabelValues("dead_lettered").Add(float64(len(letters)))
	for i, l := range letters {
		owners[i].pending--
		p.log.ErrorContext(owners[i].ctx, "document refused by OpenSearch; dead-lettered", "index", l.Index,
			"doc_id", l.DocID, "app_id", l.AppID, "status", l.Status, "error_type", l.ErrorType, "dead_letter_index", index)
	}
}

// finish acks a message whose documents are all settled and asks for a
// delayed redelivery of one that is not.
func (p *Pipeline) finish(it *inFlight) {
	defer it.span.End()
	if !it.retry && it.pending == 0 {
		p.metrics.Messages.WithLabelValues("acked").Inc()
		if err := it.msg.Ack(); err != nil {
			p.log.WarnContext(it.ctx, "ack failed; the message will be redelivered", "error", err)
		}
		return
	}
	p.metrics.Messages.WithLabelValues("redelivered").Inc()
	it.span.SetStatus(codes.Error, "not indexed")
	meta, _ := it.msg.Metadata()
	p.log.WarnContext(it.ctx, "message not fully indexed; redelivering", "reason", it.reason,
		"stream_seq", streamSeq(meta), "delay", p.cfg.RetryDelay)
	if err := it.msg.NakWithDelay(p.cfg.RetryDelay); err != nil {
		p.log.WarnContext(it.ctx, "nak failed; the message will be redelivered after ack wait", "error", err)
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
