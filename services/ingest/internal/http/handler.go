// Package http is the ingest service's HTTP edge: authentication, body
// decoding and limits, and the one mapping from track errors to status codes.
package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/evtrack/telemetry/platform/health"
	"github.com/evtrack/telemetry/services/ingest/internal/auth"
	"github.com/evtrack/telemetry/services/ingest/internal/metrics"
	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// Options configure the HTTP edge.
type Options struct {
	MaxBodyBytes    int            // on the wire
	MaxDecodedBytes int64          // after decompression
	Budget          *track.Budget  // memory held by every request being decoded, shared with gRPC
	Decoder         *track.Decoder // batch limits and the same budget
	MaxConnections  int            // open connections in all
	MaxConnsPerIP   int            // open connections from one client address (0: no limit)
	ReadTimeout     time.Duration
	IdleTimeout     time.Duration
	MaxHeaderBytes  int // request line and headers
	TrustedProxies  []string
	RetryAfter      time.Duration
	Gate            *track.Gate
	Metrics         *metrics.Ingest
	Registry        *prometheus.Registry
	// MetricsElsewhere: /metrics is served on an address of its own, not
	// on this app's (public) port.
	MetricsElsewhere bool
	TracerProvider   trace.TracerProvider
	Propagator       propagation.TextMapPropagator
	// AddressBudget is Budget shared by client address for bodies being
	// read (required): give the gRPC edge the same one, so that an
	// address's bodies and gRPC messages count against one share.
	AddressBudget *track.AddressBudget
	// BodyKeyBudget bounds the memory held by Segment requests that carry
	// their write key only in the body, which must be read before they are
	// authenticated; BodyKeyDecoder charges it. Such requests never touch
	// Budget, so callers without a key cannot starve those with one.
	BodyKeyBudget  *track.Budget
	BodyKeyDecoder *track.Decoder
	// BodyKeyMaxDecoded bounds such a body after decompression (Segment's
	// own API takes batches of at most 500 KB).
	BodyKeyMaxDecoded int64
	// TrustContextIP takes a Segment batch's context.ip as the client
	// address (when every message agrees) instead of the socket's.
	TrustContextIP bool
}

// Handler serves /v1/track.
type Handler struct {
	keys    *auth.WriteKeys
	tracker *track.Tracker
	log     *slog.Logger
	opts    Options
	dec     *track.Decoder
	gunzip  *decompressor
	// bodyKeyGunzip inflates bodies that carry their key (BodyKeyBudget).
	bodyKeyGunzip *decompressor
	// bodyBudget and keyBodyBudget are Budget (Options.AddressBudget) and
	// BodyKeyBudget for bodies being read, one address holding at most a
	// share of each.
	bodyBudget, keyBodyBudget *track.AddressBudget
	proxies                   trustedProxies
	bodies                    sync.Pool // *[]byte: request bodies as read (readBody)
}

// NewApp returns the Fiber app with every route of the ingest service.
func NewApp(keys *auth.WriteKeys, tracker *track.Tracker, checker *health.Checker, log *slog.Logger, opts Options) (*fiber.App, error) {
	proxies, err := parseTrustedProxies(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if opts.AddressBudget == nil {
		return nil, errors.New("http edge: Options.AddressBudget is required")
	}
	h := &Handler{keys: keys, tracker: tracker, log: log, opts: opts, proxies: proxies,
		dec: opts.Decoder, gunzip: newDecompressor(opts.MaxDecodedBytes, opts.Budget),
		bodyKeyGunzip: newDecompressor(opts.BodyKeyMaxDecoded, opts.BodyKeyBudget),
		bodyBudget:    opts.AddressBudget,
		keyBodyBudget: track.NewAddressBudget(opts.BodyKeyBudget, opts.MaxBodyBytes)}
	app := fiber.New(fiber.Config{
		AppName:   "ingest",
		BodyLimit: opts.MaxBodyBytes,
		// Handlers run once the headers are read; /v1/track reads the body
		// itself, after the key is checked (readBody).
		StreamRequestBody:     true,
		Concurrency:           opts.MaxConnections,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.ReadTimeout,
		IdleTimeout:           opts.IdleTimeout,
		ReadBufferSize:        opts.MaxHeaderBytes,
		DisableStartupMessage: true,
		// Bodies are decompressed here, under limits, never by the framework.
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 h.frameworkError,
	})
	app.Server().MaxConnsPerIP = opts.MaxConnsPerIP
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
	if !opts.MetricsElsewhere {
		app.Get("/metrics", h.metrics)
	}
	app.Post("/v1/track", tracing(opts.TracerProvider, opts.Propagator), h.track)
	h.segmentRoutes(app)
	return app, nil
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (h *Handler) track(c *fiber.Ctx) error {
	start := time.Now()
	err := h.serveTrack(c)
	h.opts.Metrics.RequestSeconds.WithLabelValues("http").Observe(time.Since(start).Seconds())
	return err
}

func (h *Handler) serveTrack(c *fiber.Ctx) error {
	ctx := c.UserContext()
	// Bodies are streamed (StreamRequestBody): at most the first 8 KiB has
	// been read when this runs, so a caller without a key, or with a body
	// over the limit, is answered before the rest of it is read. The server
	// then discards what is left of a small body (up to 256 KiB, keeping the
	// connection) and closes the connection on a larger one.
	appID, ok := h.authenticate(c)
	if !ok {
		c.Set(fiber.HeaderWWWAuthenticate, wwwAuthenticate)
		return h.reply(c, fiber.StatusUnauthorized, errorBody{errorDetail{"unauthorized",
			"a valid write key is required: Authorization: Bearer <write key> (or Basic with the key as user name)"}})
	}
	release, err := h.opts.Gate.Enter(h.opts.RetryAfter)
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	defer release()

	f, err := mediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	wire, read, err := h.readBody(c, h.bodyBudget)
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	defer read()
	// A JSON body's shape is checked as it is read (while it is inflated),
	// once: the decoder takes the scanner's counts.
	var check io.Writer
	var scanner *track.JSONScanner
	if f == formatJSON {
		scanner = h.dec.Scanner()
		check = scanner
	}
	body, done, err := h.gunzip.decode(c.Get(fiber.HeaderContentEncoding), wire, check)
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	defer done()
	var req track.Request
	var decoded func()
	if f == formatProto {
		req, decoded, err = h.dec.Proto(body)
	} else {
		req, decoded, err = h.dec.JSONScanned(body, scanner)
	}
	if err != nil {
		return h.writeError(c, track.Result{}, err)
	}
	defer decoded()
	facts := track.Facts{AppID: appID, ClientIP: h.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
	res, err := h.tracker.Track(ctx, facts, req)
	if err != nil {
		return h.writeError(c, res, err)
	}
	return h.reply(c, fiber.StatusAccepted, res)
}

// readBody reads the request body as sent, at most MaxBodyBytes, charging
// it to the memory budget, within the client address's share of it, first
// (a body is charged before it arrives: connections that announce large
// bodies and stall hold only their own address's share). Release it when it
// is no longer used.
func (h *Handler) readBody(c *fiber.Ctx, budget *track.AddressBudget) ([]byte, func(), error) {
	tooLarge := func() error {
		return &track.Error{Kind: track.KindTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("the body is larger than %d bytes", h.opts.MaxBodyBytes)}
	}
	n := c.Request().Header.ContentLength()
	if n > h.opts.MaxBodyBytes {
		return nil, nil, tooLarge()
	}
	chunked := n < 0
	if chunked { // charge the most it may be
		n = h.opts.MaxBodyBytes
	}
	release, err := budget.Take(h.clientIP(c), int64(n))
	if err != nil {
		return nil, nil, err
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return c.Request().Body(), release, nil
	}
	incomplete := func(err error) error {
		return &track.Error{Kind: track.KindInvalid, Code: "incomplete_body", Message: "the body could not be read: " + err.Error()}
	}
	if chunked {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(io.LimitReader(stream, int64(h.opts.MaxBodyBytes)+1)); err != nil {
			release()
			return nil, nil, incomplete(err)
		}
		if buf.Len() > h.opts.MaxBodyBytes {
			release()
			return nil, nil, tooLarge()
		}
		return buf.Bytes(), release, nil
	}
	// Content-Length bodies are read into a pooled buffer of their size:
	// nothing decoded refers to it once the request is decoded.
	bp, _ := h.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	b := (*bp)[:n]
	if _, err := io.ReadFull(stream, b); err != nil {
		h.bodies.Put(bp)
		release()
		return nil, nil, incomplete(err)
	}
	return b, func() { release(); h.bodies.Put(bp) }, nil
}

func (h *Handler) reply(c *fiber.Ctx, status int, body any) error {
	return h.replyAs(c, "http", status, body)
}

// replyAs answers and counts the request under transport ("http": /v1/track
// and the service's other routes; "segment": the Segment-compatible API).
func (h *Handler) replyAs(c *fiber.Ctx, transport string, status int, body any) error {
	h.opts.Metrics.Requests.WithLabelValues(transport, strconv.Itoa(status)).Inc()
	return c.Status(status).JSON(body)
}

// wwwAuthenticate is the challenge of every 401.
const wwwAuthenticate = `Bearer realm="ingest", Basic realm="ingest"`

// authenticate reads the write key from "Authorization: Bearer <key>" or
// "Authorization: Basic base64(<key>:)".
func (h *Handler) authenticate(c *fiber.Ctx) (string, bool) {
	return h.keys.Authenticate(c.Get(fiber.HeaderAuthorization))
}

func (h *Handler) clientIP(c *fiber.Ctx) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return h.proxies.clientIP(peer, c.Get(fiber.HeaderXForwardedFor))
}

// writeError answers a /v1/track request that failed.
func (h *Handler) writeError(c *fiber.Ctx, res track.Result, err error) error {
	status, te := h.errorStatus(c, err)
	if te == nil {
		return h.reply(c, status, errorBody{errorDetail{"internal", "internal error"}})
	}
	if te.Code == "no_valid_events" {
		return h.reply(c, status, res)
	}
	return h.reply(c, status, errorBody{errorDetail{te.Code, te.Message}})
}

// errorStatus is the one place track errors become HTTP statuses, for every
// route; it sets Retry-After where the status asks the client to come back.
// A nil *track.Error means an internal error (500), logged here.
func (h *Handler) errorStatus(c *fiber.Ctx, err error) (int, *track.Error) {
	te, ok := track.AsError(err)
	if !ok {
		h.log.ErrorContext(c.UserContext(), "track failed", "error", err)
		return fiber.StatusInternalServerError, nil
	}
	var status int
	switch te.Kind {
	case track.KindInvalid:
		status = fiber.StatusBadRequest
	case track.KindUnauthorized:
		status = fiber.StatusUnauthorized
		c.Set(fiber.HeaderWWWAuthenticate, wwwAuthenticate)
	case track.KindTooLarge:
		status = fiber.StatusRequestEntityTooLarge
	case track.KindUnsupported:
		status = fiber.StatusUnsupportedMediaType
	case track.KindRateLimited:
		status = fiber.StatusTooManyRequests
	case track.KindOverloaded:
		status = fiber.StatusServiceUnavailable
	case track.KindUnavailable:
		status = fiber.StatusServiceUnavailable
		h.log.WarnContext(c.UserContext(), "batch not stored", "error", err)
	default:
		h.log.ErrorContext(c.UserContext(), "track failed", "error", err)
		return fiber.StatusInternalServerError, nil
	}
	if status == fiber.StatusTooManyRequests || status == fiber.StatusServiceUnavailable {
		c.Set(fiber.HeaderRetryAfter, retryAfter(te.RetryAfter, h.opts.RetryAfter))
	}
	return status, te
}

// retryAfter is whole seconds, rounded up, at least 1.
func retryAfter(d, def time.Duration) string {
	if d <= 0 {
		d = def
	}
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// frameworkError answers errors raised by Fiber itself (body too large,
// unknown route, wrong method) in the same JSON shape.
func (h *Handler) frameworkError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(fe.Code), " ", "_"))
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			code = "body_too_large"
		}
		return h.reply(c, fe.Code, errorBody{errorDetail{code, fe.Message}})
	}
	h.log.ErrorContext(c.UserContext(), "request failed", "error", err)
	return h.reply(c, fiber.StatusInternalServerError, errorBody{errorDetail{"internal", "internal error"}})
}

// metrics serves the registry in the Prometheus text format.
func (h *Handler) metrics(c *fiber.Ctx) error {
	mfs, err := h.opts.Registry.Gather()
	if err != nil {
		h.log.Warn("gather metrics", "error", err)
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	c.Set(fiber.HeaderContentType, string(format))
	enc := expfmt.NewEncoder(c.Response().BodyWriter(), format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
