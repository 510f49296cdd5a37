// Package http is the ingest service's HTTP edge: authentication, body
// decoding, and the one mapping from track errors to status codes.
package http

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// Options configure the HTTP edge.
type Options struct {
	MaxBodyBytes   int
	RetryAfterSecs int // Retry-After on 503
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Handler serves /v1/track.
type Handler struct {
	keys    *auth.WriteKeys
	tracker *track.Tracker
	log     *slog.Logger
	opts    Options
}

// NewApp returns the Fiber app with every route of the ingest service.
func NewApp(keys *auth.WriteKeys, tracker *track.Tracker, checker *health.Checker, log *slog.Logger, opts Options) *fiber.App {
	h := &Handler{keys: keys, tracker: tracker, log: log, opts: opts}
	app := fiber.New(fiber.Config{
		AppName:               "ingest",
		BodyLimit:             opts.MaxBodyBytes,
		DisableStartupMessage: true,
		ErrorHandler:          h.frameworkError,
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		// Not c.Context(): fasthttp's request context must not outlive or
		// race with server shutdown, so checks get a context of their own.
		rep, ok := checker.Run(context.Background())
		if !ok {
			c.Status(fiber.StatusServiceUnavailable)
		}
		return c.JSON(rep)
	})
	app.Post("/v1/track", tracing(opts.TracerProvider, opts.Propagator), h.track)
	return app
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (h *Handler) track(c *fiber.Ctx) error {
	ctx := c.UserContext()
	appID, ok := h.authenticate(c)
	if !ok {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="ingest"`)
		return c.Status(fiber.StatusUnauthorized).JSON(errorBody{errorDetail{"unauthorized", "a valid write key is required: Authorization: Bearer <write key>"}})
	}
	if mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err != nil || mt != fiber.MIMEApplicationJSON {
		return c.Status(fiber.StatusUnsupportedMediaType).JSON(errorBody{errorDetail{"unsupported_media_type", "Content-Type must be application/json"}})
	}
	req, err := track.DecodeJSON(c.Body())
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	res, err := h.tracker.Track(ctx, track.Facts{AppID: appID, ClientIP: c.IP(), UserAgent: c.Get(fiber.HeaderUserAgent)}, req)
	if err != nil {
		return h.writeError(c, res, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(res)
}

// authenticate reads the write key from "Authorization: Bearer <key>".
func (h *Handler) authenticate(c *fiber.Ctx) (string, bool) {
	key, ok := bearer(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return "", false
	}
	return h.keys.AppID(key)
}

func bearer(header string) (string, bool) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key := strings.TrimSpace(rest)
	return key, key != ""
}

// writeError is the one place track errors become HTTP statuses.
func (h *Handler) writeError(c *fiber.Ctx, res track.Result, err error) error {
	te, ok := track.AsError(err)
	if !ok {
		h.log.ErrorContext(c.UserContext(), "track failed", "error", err)
		return c.Status(fiber.StatusInternalServerError).JSON(errorBody{errorDetail{"internal", "internal error"}})
	}
	switch te.Kind {
	case track.KindInvalid:
		if te.Code == "no_valid_events" {
			return c.Status(fiber.StatusBadRequest).JSON(res)
		}
		return c.Status(fiber.StatusBadRequest).JSON(errorBody{errorDetail{te.Code, te.Message}})
	case track.KindTooLarge:
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(errorBody{errorDetail{te.Code, te.Message}})
	case track.KindUnavailable:
		h.log.WarnContext(c.UserContext(), "batch not stored", "error", err)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(h.opts.RetryAfterSecs, 1)))
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{errorDetail{te.Code, te.Message}})
	default:
		return c.Status(fiber.StatusInternalServerError).JSON(errorBody{errorDetail{"internal", "internal error"}})
	}
}

// frameworkError answers errors raised by Fiber itself (body too large,
// unknown route, wrong method) in the same JSON shape.
func (h *Handler) frameworkError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(fe.Code), " ", "_"))
		return c.Status(fe.Code).JSON(errorBody{errorDetail{code, fe.Message}})
	}
	h.log.ErrorContext(c.UserContext(), "request failed", "error", err)
	return c.Status(fiber.StatusInternalServerError).JSON(errorBody{errorDetail{"internal", "internal error"}})
}
