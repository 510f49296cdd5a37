// Package jetstream publishes event batches to a NATS JetStream stream.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// StreamConfig is the stream the ingest service creates or updates at start-up.
type StreamConfig struct {
	Name          string
	SubjectPrefix string // batches go to <prefix>.<app_id>; the stream takes <prefix>.>
	// MaxAge, when set, expires batches not yet consumed: an explicit choice
	// to lose them; 0 (the default) keeps every batch until it is consumed.
	MaxAge     time.Duration
	MaxBytes   int64 // the stream refuses new batches beyond this (503); -1: until the server's JetStream storage is full
	MaxMsgs    int64 // likewise, in batches
	Replicas   int
	Duplicates time.Duration // window in which a repeated Nats-Msg-Id is dropped
	// Compressed stores the stream's blocks S2-compressed on disk (about a
	// third of the bytes for event batches). MaxBytes and the fill level
	// count uncompressed bytes either way.
	Compressed bool
}

// errConfigRefused marks an EnsureStream error no retry can mend.
var errConfigRefused = errors.New("the stream's configuration is refused")

// ConfigRefused reports whether err (from EnsureStream) is JetStream
// refusing the stream's configuration — overlapping subjects, a change it
// does not allow — which no retry mends, rather than JetStream being
// unreachable or still electing its leaders.
func ConfigRefused(err error) bool {
	var api *njs.APIError
	return errors.Is(err, errConfigRefused) || (errors.As(err, &api) && api.Code >= 400 && api.Code < 500)
}

// EnsureStream creates the stream, or updates it to cfg if it exists. The
// stream is a work queue: a batch is removed once enrich has acknowledged
// it, and never before (no consumer yet, or one far behind, loses nothing).
// At its byte or message limit it refuses new batches (DiscardNew), which
// ingest answers with 503 and Retry-After: a full stream never drops a batch
// it acknowledged.
func EnsureStream(ctx context.Context, js njs.JetStream, cfg StreamConfig) (njs.Stream, error) {
	want := njs.StreamConfig{
		Name:        cfg.Name,
		Description: "Event batches accepted by the ingest service, one message per request, kept until indexed",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Storage:     njs.FileStorage,
		Retention:   njs.WorkQueuePolicy,
		Discard:     njs.DiscardNew,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		MaxMsgs:     cfg.MaxMsgs,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.Duplicates,
	}
	if cfg.MaxMsgs == 0 {
		want.MaxMsgs = -1
	}
	if cfg.Compressed {
		want.Compression = njs.S2Compression
	}
	// Replicas are raised, never lowered, here: one instance started
	// without the cluster's setting would otherwise take the stream down to
	// one node's disk. Lowering them is an operator's act (nats stream edit).
	if existing, err := js.Stream(ctx, cfg.Name); err == nil {
		want.Replicas = max(want.Replicas, existing.CachedInfo().Config.Replicas)
	}
	s, err := js.CreateOrUpdateStream(ctx, want)
	if err != nil {
		if existing, ierr := js.Stream(ctx, cfg.Name); ierr == nil && existing.CachedInfo().Config.Retention != njs.WorkQueuePolicy {
			return nil, fmt.Errorf("stream %s keeps %s retention from an earlier version, which discards batches not yet indexed; "+
				"let enrich drain it, delete it (nats stream rm %s) and start ingest again: %w: %w",
				cfg.Name, existing.CachedInfo().Config.Retention, cfg.Name, errConfigRefused, err)
		}
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// PublisherOptions configure a BatchPublisher.
type PublisherOptions struct {
	Timeout     time.Duration // longest wait for one acknowledgement
	MaxInFlight int           // publishes awaiting acknowledgement at once
	Metrics     *metrics.Ingest
	Tracer      trace.TracerProvider
	Propagator  propagation.TextMapPropagator
}

// BatchPublisher publishes one message per batch and waits for the stream's
// acknowledgement, so a returned nil means the batch is stored. Concurrent
// requests' publishes are pipelined on the one connection; at most
// MaxInFlight wait for acknowledgements, and beyond that PublishBatch fails
// at once with track.ErrOverloaded instead of queueing.
type BatchPublisher struct {
	js            njs.JetStream
	stream        string
	subjectPrefix string
	opts          PublisherOptions
	inFlight      chan struct{}
	buffers       sync.Pool
	tracer        trace.Tracer
}

// NewBatchPublisher returns a publisher into cfg's stream.
func NewBatchPublisher(js njs.JetStream, cfg StreamConfig, opts PublisherOptions) *BatchPublisher {
	return &BatchPublisher{
		js: js, stream: cfg.Name, subjectPrefix: cfg.SubjectPrefix, opts: opts,
		inFlight: make(chan struct{}, opts.MaxInFlight),
		buffers:  sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }},
		tracer:   opts.Tracer.Tracer("github.com/evtrack/telemetry/services/ingest/internal/jetstream"),
	}
}

// PublishBatch stores batch under its BatchId as the message id. A batch the
// stream has already stored within its duplicate window is not stored again,
// and that is a success reported as duplicate.
func (p *BatchPublisher) PublishBatch(ctx context.Context, batch *telemetryv1.EventBatch) (duplicate bool, err error) {
	subject := p.subjectPrefix + "." + batch.AppId
	ctx, span := p.tracer.Start(ctx, "publish "+p.stream, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", batch.BatchId),
			attribute.Int("messaging.batch.message_count", len(batch.Events)),
		))
	defer span.End()

	// Generated reflection-free marshalling into a pooled buffer: the
	// connection has copied the bytes by the time PublishMsg returns.
	bufp := p.buffers.Get().(*[]byte)
	defer p.buffers.Put(bufp)
	size := batch.SizeVT()
	if cap(*bufp) < size {
		*bufp = make([]byte, size)
	}
	data := (*bufp)[:size]
	if _, err := batch.MarshalToSizedBufferVT(data); err != nil {
		span.SetStatus(codes.Error, "marshal")
		return false, fmt.Errorf("marshal batch %s: %w", batch.BatchId, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	p.opts.Propagator.Inject(ctx, natsx.HeaderCarrier(msg.Header))

	select {
	case p.inFlight <- struct{}{}:
	default:
		span.SetStatus(codes.Error, "overloaded")
		return false, fmt.Errorf("publish batch %s: %d publishes in flight: %w", batch.BatchId, cap(p.inFlight), track.ErrOverloaded)
	}
	m := p.opts.Metrics
	m.PublishesInFlight.Inc()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	ack, err := p.js.PublishMsg(ctx, msg, njs.WithMsgID(batch.BatchId), njs.WithExpectStream(p.stream))
	cancel()
	m.PublishesInFlight.Dec()
	<-p.inFlight
	if err != nil {
		m.PublishFailures.Inc()
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish")
		switch {
		case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, njs.ErrStreamMessageExceedsMaximum):
			return false, fmt.Errorf("publish batch %s of %d bytes: %w: %w", batch.BatchId, size, track.ErrTooLarge, err)
		case isStreamFull(err):
			p.opts.Metrics.StreamFull.Inc()
			return false, fmt.Errorf("publish batch %s: %w: %w", batch.BatchId, track.ErrFull, err)
		case errors.Is(err, context.DeadlineExceeded):
			return false, fmt.Errorf("publish batch %s: no acknowledgement within %s: %w", batch.BatchId, p.opts.Timeout, err)
		}
		return false, fmt.Errorf("publish batch %s: %w", batch.BatchId, err)
	}
	m.PublishSeconds.Observe(time.Since(start).Seconds())
	span.SetAttributes(attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)),
		attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
	return ack.Duplicate, nil
}

// JetStream errors that mean "full": a stream at its own limits under
// DiscardNew (JSStreamStoreFailedF), or the server out of the storage its
// JetStream may use (JSInsufficientResourcesErr).
const (
	errCodeStreamStoreFailed     njs.ErrorCode = 10077
	errCodeInsufficientResources njs.ErrorCode = 10023
)

// isStreamFull reports whether the stream refused a publish because it is
// at its byte or message limit (DiscardNew).
func isStreamFull(err error) bool {
	var apiErr *njs.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == errCodeStreamStoreFailed || apiErr.ErrorCode == errCodeInsufficientResources ||
		strings.Contains(apiErr.Description, "maximum bytes exceeded") ||
		strings.Contains(apiErr.Description, "maximum messages exceeded")
}
