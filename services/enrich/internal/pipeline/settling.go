package pipeline

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
)

// finish settles a message none of whose documents waits for the cluster.
// Every document written, already present or dead-lettered: acked. Some
// failed for a reason of the message's own: nak'ed for a later delivery,
// after a delay that doubles with each delivery — or, on delivery
// MaxDeliver, those documents are dead-lettered with the last reason and
// the message acked, so it cannot hold the consumer for ever.
func (p *Pipeline) finish(ctx context.Context, it *inFlight) {
	defer it.span.End()
	for i, st := range it.state {
		if st == docPending { // not sent: never expected after a round, never acked
			it.state[i], it.failure = docFailed, failure{errorType: "not_sent", reason: "document not sent"}
		}
	}
	if it.count(docDone) == len(it.docs) {
		p.metrics.Messages.WithLabelValues("acked").Inc()
		if err := it.msg.Ack(); err != nil {
			p.log.WarnContext(it.ctx, "ack failed; the message will be redelivered", "error", err)
		}
		return
	}
	f := it.failure
	// Dead-lettering writes: only while the suppression lease covers it
	// (otherwise the message comes back, and is dead-lettered then).
	if p.cfg.MaxDeliver > 0 && it.delivered >= p.cfg.MaxDeliver && p.mayWrite() {
		err := p.giveUp(ctx, it)
		if err == nil {
			p.metrics.Messages.WithLabelValues("dead_lettered").Inc()
			if err := it.msg.Ack(); err != nil {
				p.log.WarnContext(it.ctx, "ack failed; the message will be redelivered", "error", err)
			}
			return
		}
		p.log.ErrorContext(it.ctx, "dead-lettering a message's failed documents failed; redelivering", "error", err)
	}
	delay := p.retryDelay(it.delivered)
	p.metrics.Messages.WithLabelValues("redelivered").Inc()
	it.span.SetStatus(codes.Error, "not indexed")
	p.log.WarnContext(it.ctx, "message not fully indexed; redelivering", "status", f.status, "error_type", f.errorType,
		"reason", f.reason, "stream_seq", it.streamSeq, "delivery", it.delivered, "max_deliver", p.cfg.MaxDeliver, "delay", delay)
	if err := it.msg.NakWithDelay(delay); err != nil {
		p.log.WarnContext(it.ctx, "nak failed; the message will be redelivered after ack wait", "error", err)
	}
}

// retryDelay is RetryDelay doubled for each delivery after the first, at
// most MaxRetryDelay.
func (p *Pipeline) retryDelay(delivered int) time.Duration {
	d := p.cfg.RetryDelay
	for i := 1; i < delivered && d < p.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	if p.cfg.MaxRetryDelay > 0 {
		d = min(d, p.cfg.MaxRetryDelay)
	}
	return d
}

// giveUp dead-letters the failed documents of a message on its last
// allowed delivery, with the last reason and the number of deliveries. A
// failed request may have written some of them anyway (it timed out after
// OpenSearch took it), so they are first read back, in real time, from
// their index: those found count as already present. Documents the message
// had written stay.
func (p *Pipeline) giveUp(ctx context.Context, it *inFlight) error {
	lctx, cancel := context.WithTimeout(ctx, p.cfg.BulkTimeout)
	defer cancel()
	var refs []LocateRef
	for i, d := range it.docs {
		if it.state[i] == docFailed {
			refs = append(refs, LocateRef{ID: d.ID, Indices: []string{d.Index}})
		}
	}
	found, err := p.idx.Locate(lctx, "", refs)
	if err != nil {
		return fmt.Errorf("look up the failed documents: %w", err)
	}
	f := it.failure
	f.reason = fmt.Sprintf("given up on delivery %d of %d: %s", it.delivered, p.cfg.MaxDeliver, f.reason)
	failedAt := p.now().UTC()
	var letters []eventdoc.DeadLetter
	var present []int
	for i, d := range it.docs {
		if it.state[i] != docFailed {
			continue
		}
		if _, ok := found[d.ID]; ok {
			present = append(present, i)
			continue
		}
		letters = append(letters, p.letter(docRef{it, i}, f, failedAt))
	}
	var written []int
	var index string
	if len(letters) > 0 {
		var err error
		if written, index, err = p.keepLetters(lctx, letters); err != nil {
			return err
		}
	}
	for i, st := range it.state {
		if st == docFailed {
			it.state[i] = docDone
		}
	}
	p.metrics.Documents.WithLabelValues("already_present").Add(float64(len(present) + len(letters) - len(written)))
	p.metrics.Documents.WithLabelValues("dead_lettered").Add(float64(len(written)))
	p.log.ErrorContext(it.ctx, "message failed on every delivery; its failed documents dead-lettered", "deliveries", it.delivered,
		"dead_lettered", len(written), "already_present", len(present), "already_dead_lettered", len(letters)-len(written),
		"status", f.status, "error_type", f.errorType,
		"reason", it.failure.reason, "stream_seq", it.streamSeq, "dead_letter_index", index)
	return nil
}

// release gives messages still waiting back to JetStream at once, for
// another instance to take: when the service stops while the cluster cannot
// take them, or when the suppression lease no longer covers a write (why).
func (p *Pipeline) release(ctx context.Context, items []*inFlight, why string) {
	p.log.WarnContext(ctx, why+"; releasing messages", "messages", len(items))
	for _, it := range items {
		p.metrics.Messages.WithLabelValues("redelivered").Inc()
		it.span.SetStatus(codes.Error, "released: "+why)
		if err := it.msg.Nak(); err != nil {
			p.log.WarnContext(it.ctx, "nak failed; the message will be redelivered after ack wait", "error", err)
		}
		it.span.End()
	}
}
