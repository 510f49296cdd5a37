package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/opensearch/eventdoc"
	"github.com/evtrack/telemetry/services/enrich/internal/document"
)

// docRef points at one document of one message.
type docRef struct {
	it *inFlight
	i  int
}

func (r docRef) doc() document.Doc { return r.it.docs[r.i] }

func (r docRef) set(s docState, f failure) {
	r.it.state[r.i] = s
	if s != docDone {
		r.it.failure = f
	}
}

// round sends every pending document of items once, in bulk requests
// bounded by count and bytes, and records where each one stands. A document
// in several messages of the batch (a client's retry fetched together with
// its original) is sent once, and its outcome given to every copy.
// Documents that must be looked up first are sent in requests of their own.
func (p *Pipeline) round(ctx context.Context, items []*inFlight) {
	var plain, looked, copies []docRef
	first := map[string]docRef{}
	for _, it := range items {
		for i := range it.docs {
			if it.state[i] != docPending {
				continue
			}
			r := docRef{it, i}
			if _, dup := first[it.docs[i].ID]; dup {
				copies = append(copies, r)
				continue
			}
			first[it.docs[i].ID] = r
			if it.docs[i].Lookup {
				looked = append(looked, r)
			} else {
				plain = append(plain, r)
			}
		}
	}
	// Documents looked up before they are written go in requests of their
	// own: only those hold the look-up locks (see bulk).
	queue := append(p.chunks(plain), p.chunks(looked)...)
	for len(queue) > 0 {
		if !p.mayWrite() {
			// The suppression lease no longer covers a request begun now:
			// the rest waits, and the batch is released (process).
			for _, chunk := range queue {
				for _, r := range chunk {
					r.set(docWaiting, failure{errorType: "suppression_lease", reason: "suppression lease not current: not sent"})
				}
			}
			break
		}
		queue = append(p.bulk(ctx, queue[0]), queue[1:]...)
	}
	present := 0
	for _, r := range copies {
		l := first[r.doc().ID]
		r.set(l.it.state[l.i], l.it.failure)
		if l.it.state[l.i] == docDone {
			present++
		}
	}
	p.metrics.Documents.WithLabelValues("already_present").Add(float64(present))
}

// chunks splits the documents into bulk requests bounded by count and bytes.
func (p *Pipeline) chunks(refs []docRef) [][]docRef {
	var out [][]docRef
	var cur []docRef
	size := 0
	for _, r := range refs {
		d := r.doc()
		n := len(d.Body) + len(d.ID) + len(d.Index) + 40
		if len(cur) > 0 && (len(cur) >= p.cfg.BulkMaxDocs || size+n > p.cfg.BulkMaxBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, r)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// bulk sends one chunk and records each document's state. When OpenSearch
// refuses the request as too large it returns the chunk's two halves, to be
// sent in its place; a single document refused so is a failure of its
// message. The span belongs to the trace of the chunk's first message whose
// span is sampled (else of its first message: a sampled trace keeps its
// bulk call whatever came before it in the chunk) and links to every
// message's span.
func (p *Pipeline) bulk(ctx context.Context, chunk []docRef) [][]docRef {
	var links []trace.Link
	seen := map[*inFlight]bool{}
	parent := trace.SpanFromContext(chunk[0].it.ctx)
	for _, r := range chunk {
		if !seen[r.it] {
			seen[r.it] = true
			sc := trace.SpanContextFromContext(r.it.ctx)
			links = append(links, trace.Link{SpanContext: sc})
			if sc.IsSampled() && !parent.SpanContext().IsSampled() {
				parent = trace.SpanFromContext(r.it.ctx)
			}
			p.touch(r.it, false)
		}
	}
	bctx, span := p.tracer.Start(trace.ContextWithSpan(ctx, parent), "opensearch bulk",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("db.system", "opensearch"), attribute.Int("db.operation.batch.size", len(chunk))))
	defer span.End()
	bctx, cancel := context.WithTimeout(bctx, p.cfg.BulkTimeout)
	defer cancel()

	// A chunk of looked-up documents is looked up and written under the
	// locks of its ids (a plain chunk takes none).
	defer p.lockLookups(chunk)()
	chunk, present, err := p.lookUp(bctx, chunk)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "look-up failed")
		p.requestFailed(trace.ContextWithSpan(ctx, span), chunk, err) // logged in the chunk's trace
		return nil
	}
	if len(chunk) == 0 {
		p.metrics.Documents.WithLabelValues("already_present").Add(float64(present))
		span.SetAttributes(attribute.Int("telemetry.already_present", present))
		return nil
	}
	docs := make([]document.Doc, len(chunk))
	for i, r := range chunk {
		docs[i] = r.doc()
	}
	start := time.Now()
	results, err := p.idx.Index(bctx, docs)
	p.metrics.BulkSeconds.Observe(time.Since(start).Seconds())
	p.metrics.BulkDocuments.Observe(float64(len(docs)))
	if err != nil {
		span.RecordError(err)
		if tooLarge(err) && len(chunk) > 1 {
			span.SetStatus(codes.Error, "too large; split")
			h := len(chunk) / 2
			return [][]docRef{chunk[:h:h], chunk[h:]}
		}
		p.metrics.BulkFailures.Inc()
		span.SetStatus(codes.Error, "bulk failed")
		p.requestFailed(trace.ContextWithSpan(ctx, span), chunk, err) // logged in the chunk's trace
		return nil
	}
	var created, exists, waiting, failed int
	var letters []eventdoc.DeadLetter
	var lettered []docRef
	failedAt := p.now().UTC()
	for i, res := range results {
		r := chunk[i]
		f := failure{status: res.Status, errorType: res.ErrorType, reason: res.Reason}
		switch res.Outcome {
		case Created:
			created++
			r.set(docDone, f)
			p.remember(r.doc())
		case Exists:
			exists++
			r.set(docDone, f)
			p.remember(r.doc())
		case Rejected:
			letters = append(letters, p.letter(r, f, failedAt))
			lettered = append(lettered, r)
		case Unavailable:
			waiting++
			r.set(docWaiting, f)
			p.metrics.ClusterRefusals.WithLabelValues(cmp.Or(res.ErrorType, fmt.Sprintf("http_%d", res.Status))).Inc()
		default: // Failed
			failed++
			r.set(docFailed, f)
		}
	}
	p.metrics.Documents.WithLabelValues("created").Add(float64(created))
	p.metrics.Documents.WithLabelValues("already_present").Add(float64(exists + present))
	p.metrics.Documents.WithLabelValues("retried").Add(float64(waiting))
	p.metrics.Documents.WithLabelValues("failed").Add(float64(failed))
	if len(letters) > 0 {
		p.deadLetter(bctx, letters, lettered)
	}
	span.SetAttributes(attribute.Int("telemetry.created", created), attribute.Int("telemetry.already_present", exists+present),
		attribute.Int("telemetry.retried", waiting), attribute.Int("telemetry.failed", failed),
		attribute.Int("telemetry.dead_lettered", len(letters)))
	if waiting+failed > 0 {
		span.SetStatus(codes.Error, "some documents will be retried")
	}
	return nil
}

// requestFailed records a request that failed as a whole against every
// document of chunk.
func (p *Pipeline) requestFailed(ctx context.Context, chunk []docRef, err error) {
	outcome, f := p.requestOutcome(ctx, err)
	state := docFailed
	if outcome == Unavailable {
		state = docWaiting
		p.metrics.ClusterRefusals.WithLabelValues(f.errorType).Inc()
	}
	p.log.WarnContext(ctx, "bulk request failed", "error", err, "documents", len(chunk), "outcome", outcome.String())
	for _, r := range chunk {
		r.set(state, f)
	}
}

// requestOutcome tells whose fault a request that failed as a whole is.
// The cluster's (Unavailable): no answer, 429, 502–504, and any other
// refusal of the request as such (401, 403, 404: not a matter of its
// content). The message's (Failed): 400 (OpenSearch cannot read the request
// built from it) and 413 (one document too large). A 500 or a timeout is
// the cluster's when it does not answer a health check either, the
// message's when it does: a request failing alone on a cluster that is well
// would otherwise be retried for ever.
func (p *Pipeline) requestOutcome(ctx context.Context, err error) (Outcome, failure) {
	f := failure{errorType: "unreachable", reason: err.Error()}
	var re *RequestError
	switch {
	case errors.As(err, &re):
		f.status, f.errorType = re.Status, cmp.Or(re.Type, fmt.Sprintf("http_%d", re.Status))
		switch re.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			return Failed, f
		case http.StatusInternalServerError:
		default:
			return Unavailable, f
		}
	case errors.Is(err, context.DeadlineExceeded):
		f.errorType = "timeout"
	default:
		return Unavailable, f
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if perr := p.idx.Ping(pctx); perr != nil {
		return Unavailable, f
	}
	return Failed, f
}

// letter is the dead letter of one document.
func (p *Pipeline) letter(r docRef, f failure, failedAt time.Time) eventdoc.DeadLetter {
	d := r.doc()
	return eventdoc.DeadLetter{DocID: d.ID, AppID: d.AppID, EventID: d.EventID, Index: d.Index,
		Status: f.status, ErrorType: f.errorType, ErrorReason: f.reason, FailedAt: failedAt,
		Deliveries: r.it.delivered, StreamSequence: r.it.streamSeq, Document: d.Body}
}

// deadLetter keeps refused documents with their reasons (keepLetters);
// they then count as settled. If even that write fails, they wait like
// documents the cluster cannot take.
func (p *Pipeline) deadLetter(ctx context.Context, letters []eventdoc.DeadLetter, refs []docRef) {
	written, index, err := p.keepLetters(ctx, letters)
	if err != nil {
		p.log.ErrorContext(ctx, "dead-letter write failed; retrying", "error", err, "documents", len(letters))
		f := failure{errorType: "dead_letter_write_failed", reason: "dead-letter write failed: " + err.Error()}
		for _, r := range refs {
			r.set(docWaiting, f)
		}
		return
	}
	p.metrics.Documents.WithLabelValues("dead_lettered").Add(float64(len(written)))
	p.metrics.Documents.WithLabelValues("already_present").Add(float64(len(letters) - len(written)))
	for _, r := range refs {
		r.set(docDone, failure{})
	}
	for _, i := range written {
		l := letters[i]
		p.log.ErrorContext(refs[i].it.ctx, "document refused by OpenSearch; dead-lettered", "index", l.Index,
			"doc_id", l.DocID, "app_id", l.AppID, "status", l.Status, "error_type", l.ErrorType, "dead_letter_index", index)
	}
}

// keepLetters writes letters (all of one failure time) into the
// dead-letter index of the day they failed, but for those a dead-letter
// index already holds: a message whose letters were written and whose ack
// was lost comes back, maybe on another day, and a document refused again
// must not get a second letter in the next day's index (which Dashboards
// would count twice). Letters are looked up in real time in that day's and
// the day before's index, and by a search in every dead-letter index. It
// returns the positions in letters of those it wrote, and the index.
func (p *Pipeline) keepLetters(ctx context.Context, letters []eventdoc.DeadLetter) (written []int, index string, err error) {
	failedAt := letters[0].FailedAt
	index = eventdoc.DeadLetterIndex(p.cfg.IndexPrefix, failedAt)
	recent := []string{eventdoc.DeadLetterIndex(p.cfg.IndexPrefix, failedAt.Add(-24*time.Hour)), index}
	refs := make([]LocateRef, len(letters))
	for i, l := range letters {
		refs[i] = LocateRef{ID: l.DocID, Indices: recent}
	}
	found, err := p.idx.Locate(ctx, eventdoc.DeadLetterPattern(p.cfg.IndexPrefix), refs)
	if err != nil {
		return nil, index, fmt.Errorf("look up the dead letters: %w", err)
	}
	var write []eventdoc.DeadLetter
	for i, l := range letters {
		if _, ok := found[l.DocID]; !ok {
			written = append(written, i)
			write = append(write, l)
		}
	}
	if len(write) == 0 {
		return nil, index, nil
	}
	if err := p.idx.DeadLetter(ctx, index, write); err != nil {
		return nil, index, err
	}
	return written, index, nil
}
