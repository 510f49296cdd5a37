// Package jetstream publishes event batches to a NATS JetStream stream.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/natsx"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// StreamConfig is the stream the ingest service creates or updates at start-up.
type StreamConfig struct {
	Name          string
	SubjectPrefix string // batches go to <prefix>.<app_id>; the stream takes <prefix>.>
	MaxAge        time.Duration
	MaxBytes      int64 // -1: unlimited
	Replicas      int
	Duplicates    time.Duration // window in which a repeated Nats-Msg-Id is dropped
}

// EnsureStream creates the stream, or updates it to cfg if it exists.
func EnsureStream(ctx context.Context, js njs.JetStream, cfg StreamConfig) (njs.Stream, error) {
	s, err := js.CreateOrUpdateStream(ctx, njs.StreamConfig{
		Name:        cfg.Name,
		Description: "Event batches accepted by the ingest service, one message per request",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Storage:     njs.FileStorage,
		Retention:   njs.LimitsPolicy,
		Discard:     njs.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.Duplicates,
	})
	if err != nil {
		return nil, fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// BatchPublisher publishes one message per batch and waits for the stream's
// acknowledgement, so a returned nil means the batch is stored.
type BatchPublisher struct {
	js            njs.JetStream
	stream        string
	subjectPrefix string
	timeout       time.Duration
	tracer        trace.Tracer
	prop          propagation.TextMapPropagator
}

// NewBatchPublisher returns a publisher into cfg's stream; timeout bounds the
// wait for each acknowledgement.
func NewBatchPublisher(js njs.JetStream, cfg StreamConfig, timeout time.Duration, tp trace.TracerProvider, prop propagation.TextMapPropagator) *BatchPublisher {
	return &BatchPublisher{
		js: js, stream: cfg.Name, subjectPrefix: cfg.SubjectPrefix, timeout: timeout,
		tracer: tp.Tracer("github.com/evtrack/telemetry/services/ingest/internal/jetstream"), prop: prop,
	}
}

// PublishBatch stores batch under its BatchId as the message id. A batch the
// stream has already stored within its duplicate window is not stored again,
// and that is a success.
func (p *BatchPublisher) PublishBatch(ctx context.Context, batch *telemetryv1.EventBatch) error {
	subject := p.subjectPrefix + "." + batch.AppId
	ctx, span := p.tracer.Start(ctx, "publish "+p.stream, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", batch.BatchId),
			attribute.Int("messaging.batch.message_count", len(batch.Events)),
		))
	defer span.End()

	data, err := proto.Marshal(batch)
	if err != nil {
		span.SetStatus(codes.Error, "marshal")
		return fmt.Errorf("marshal batch %s: %w", batch.BatchId, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	p.prop.Inject(ctx, natsx.HeaderCarrier(msg.Header))

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, msg, njs.WithMsgID(batch.BatchId), njs.WithExpectStream(p.stream))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish")
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("publish batch %s: no acknowledgement within %s: %w", batch.BatchId, p.timeout, err)
		}
		return fmt.Errorf("publish batch %s: %w", batch.BatchId, err)
	}
	span.SetAttributes(attribute.Int64("messaging.nats.stream_sequence", int64(ack.Sequence)),
		attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
	return nil
}
