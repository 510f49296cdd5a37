package http

import (
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// headerCarrier adapts fasthttp request headers to a TextMapCarrier.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	var keys []string
	c.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}

// tracing starts a server span per request, continuing the caller's trace when
// it sent one, and puts it in the request's user context for the handlers.
func tracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) fiber.Handler {
	tracer := tp.Tracer("github.com/evtrack/telemetry/services/ingest/internal/http")
	return func(c *fiber.Ctx) error {
		ctx := prop.Extract(c.UserContext(), headerCarrier{&c.Request().Header})
		ctx, span := tracer.Start(ctx, c.Method()+" "+c.Path(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", c.Method()),
				attribute.String("url.path", c.Path()),
			))
		defer span.End()
		c.SetUserContext(ctx)
		err := c.Next()
		if err != nil {
			// Let the app's error handler write the response now, so the
			// span records the status the client gets.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				span.RecordError(herr)
			}
			err = nil
		}
		status := c.Response().StatusCode()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
		return err
	}
}
