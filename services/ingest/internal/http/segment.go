package http

import (
	"fmt"
	"mime"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/evtrack/telemetry/services/ingest/internal/track"
)

// segmentPaths are the routes of the Segment-compatible tracking API. The
// single-message calls also live under /v1 where that does not collide with
// our own /v1/track.
var segmentPaths = []struct {
	path string
	call track.SegmentCall
}{
	{"/v1/batch", track.SegmentBatch},
	{"/segment/v1/batch", track.SegmentBatch},
	// analytics-android (v4) posts its batches to /import, and drops a
	// batch answered any 4xx but 429.
	{"/v1/import", track.SegmentBatch},
	{"/segment/v1/import", track.SegmentBatch},
	{"/segment/v1/track", track.SegmentTrack},
	{"/segment/v1/identify", track.SegmentIdentify},
	{"/segment/v1/page", track.SegmentPage},
	{"/segment/v1/screen", track.SegmentScreen},
	{"/segment/v1/group", track.SegmentGroup},
	{"/segment/v1/alias", track.SegmentAlias},
	{"/v1/identify", track.SegmentIdentify},
	{"/v1/page", track.SegmentPage},
	{"/v1/screen", track.SegmentScreen},
	{"/v1/group", track.SegmentGroup},
	{"/v1/alias", track.SegmentAlias},
	// Segment's browser SDK (analytics.js) posts to the type's first letter,
	// and batches to /b, with the key in the body and text/plain.
	{"/v1/b", track.SegmentBatch},
	{"/v1/t", track.SegmentTrack},
	{"/v1/i", track.SegmentIdentify},
	{"/v1/p", track.SegmentPage},
	{"/v1/s", track.SegmentScreen},
	{"/v1/g", track.SegmentGroup},
	{"/v1/a", track.SegmentAlias},
}

func (h *Handler) segmentRoutes(app *fiber.App) {
	trace := tracing(h.opts.TracerProvider, h.opts.Propagator)
	for _, p := range segmentPaths {
		app.Post(p.path, trace, h.segment(p.call))
		app.Options(p.path, preflight)
	}
}

// Browsers call the Segment API from any site with the site's public write
// key, as they call Segment's: every answer may be read cross-origin, and a
// preflight is answered for the headers SDKs send.
const (
	allowOrigin  = "*"
	allowHeaders = "Content-Type, Content-Encoding, Authorization, AnonymousId" // RudderStack's JS SDK sends AnonymousId
)

func preflight(c *fiber.Ctx) error {
	c.Set(fiber.HeaderAccessControlAllowOrigin, allowOrigin)
	c.Set(fiber.HeaderAccessControlAllowMethods, "POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, allowHeaders)
	c.Set(fiber.HeaderAccessControlMaxAge, "86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// segmentResult is what a stored Segment request is answered: 200, which
// every Segment and RudderStack SDK takes as delivered (RudderStack's
// Python SDK takes nothing else), with our counts beside Segment's
// "success".
type segmentResult struct {
	Success bool `json:"success"`
	segmentCounts
}

type segmentCounts struct {
	Accepted   int                `json:"accepted"`
	Rejected   int                `json:"rejected"`
	Duplicates int                `json:"duplicates"`
	Errors     []track.EventError `json:"errors"`
}

// segmentError is a refusal: "code" and "message" at the top level, where
// the SDKs read them (RudderStack's Python SDK retries a 4xx whose JSON
// body lacks them), and the per-event counts when no event was valid.
type segmentError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	*segmentCounts
}

func segmentCountsOf(res track.Result) segmentCounts {
	errs := make([]track.EventError, len(res.Errors))
	for i, e := range res.Errors {
		e.Field = track.SegmentField(e.Field)
		errs[i] = e
	}
	return segmentCounts{Accepted: res.Accepted, Rejected: res.Rejected, Duplicates: res.Duplicates, Errors: errs}
}

func (h *Handler) segment(call track.SegmentCall) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := h.serveSegment(c, call)
		h.opts.Metrics.RequestSeconds.WithLabelValues("segment").Observe(time.Since(start).Seconds())
		return err
	}
}

var errNoKey = &track.Error{Kind: track.KindUnauthorized, Code: "unauthorized",
	Message: "a valid write key is required: Authorization: Basic base64(<write key>:), Bearer <write key>, or \"writeKey\" in the body"}

// serveSegment is /v1/track's path for a Segment body: the same limits,
// memory budget, validation and durability, a different decoder and answer.
func (h *Handler) serveSegment(c *fiber.Ctx, call track.SegmentCall) error {
	ctx := c.UserContext()
	c.Set(fiber.HeaderAccessControlAllowOrigin, allowOrigin)
	bodyBudget, dec, gunzip := h.bodyBudget, h.dec, h.gunzip
	var appID string
	var authorize func(string) error
	var leave func()
	defer func() {
		if leave != nil {
			leave()
		}
	}()
	if header := c.Get(fiber.HeaderAuthorization); header != "" {
		// Checked before the body is read, as on /v1/track.
		id, ok := h.keys.Authenticate(header)
		if !ok {
			return h.segmentError(c, track.Result{}, errNoKey)
		}
		appID = id
		release, err := h.opts.Gate.Enter(h.opts.RetryAfter)
		if err != nil {
			return h.segmentError(c, track.Result{}, err)
		}
		leave = release
	} else {
		// The key is in the body ("writeKey"), so the body is read before
		// the caller is known: under a budget of its own, and without a
		// request slot until the key is checked (the decoder calls this
		// once the body is parsed, before any message is decoded).
		bodyBudget, dec, gunzip = h.keyBodyBudget, h.opts.BodyKeyDecoder, h.bodyKeyGunzip
		authorize = func(key string) error {
			id, ok := h.keys.AppID(key)
			if key == "" || !ok {
				return errNoKey
			}
			release, err := h.opts.Gate.Enter(h.opts.RetryAfter)
			if err != nil {
				return err
			}
			appID, leave = id, release
			return nil
		}
	}
	if err := segmentMediaType(c.Get(fiber.HeaderContentType)); err != nil {
		return h.segmentError(c, track.Result{}, err)
	}
	wire, read, err := h.readBody(c, bodyBudget)
	if err != nil {
		return h.segmentError(c, track.Result{}, err)
	}
	defer read()
	scanner := dec.SegmentScanner()
	body, done, err := gunzip.decode(c.Get(fiber.HeaderContentEncoding), wire, scanner)
	if err != nil {
		return h.segmentError(c, track.Result{}, err)
	}
	defer done()
	if authorize != nil && int64(len(body)) > h.opts.BodyKeyMaxDecoded {
		return h.segmentError(c, track.Result{}, &track.Error{Kind: track.KindTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("a body that carries its write key is at most %d bytes; send the key in the Authorization header for larger ones", h.opts.BodyKeyMaxDecoded)})
	}
	req, decoded, err := dec.SegmentScanned(body, scanner, track.SegmentOptions{
		Call: call, Now: time.Now(), Authorize: authorize, TrustContextIP: h.opts.TrustContextIP,
	})
	if err != nil {
		return h.segmentError(c, track.Result{}, err)
	}
	defer decoded()
	ip := h.clientIP(c)
	if req.ContextIP != "" { // set only when TrustContextIP
		ip = req.ContextIP
	}
	facts := track.Facts{AppID: appID, ClientIP: ip, UserAgent: c.Get(fiber.HeaderUserAgent)}
	res, err := h.tracker.Track(ctx, facts, req)
	if err != nil {
		return h.segmentError(c, res, err)
	}
	return h.replyAs(c, "segment", fiber.StatusOK, segmentResult{Success: true, segmentCounts: segmentCountsOf(res)})
}

// segmentError answers a Segment request that failed, with the status
// errorStatus gives every route.
func (h *Handler) segmentError(c *fiber.Ctx, res track.Result, err error) error {
	status, te := h.errorStatus(c, err)
	if te == nil {
		return h.replyAs(c, "segment", status, segmentError{Code: "internal", Message: "internal error"})
	}
	if status == fiber.StatusTooManyRequests {
		// The browser SDK waits this many seconds (it reads no Retry-After).
		c.Set("X-RateLimit-Reset", string(c.Response().Header.Peek(fiber.HeaderRetryAfter)))
	}
	body := segmentError{Code: te.Code, Message: te.Message}
	if te.Code == "no_valid_events" {
		counts := segmentCountsOf(res)
		body.segmentCounts = &counts
	}
	return h.replyAs(c, "segment", status, body)
}

// segmentMediaType accepts JSON, and text/plain as browsers send it to
// avoid a CORS preflight.
func segmentMediaType(header string) error {
	mt, _, err := mime.ParseMediaType(header)
	if err == nil && (mt == "application/json" || mt == "text/plain") {
		return nil
	}
	return &track.Error{Kind: track.KindUnsupported, Code: "unsupported_media_type",
		Message: "Content-Type must be application/json (or text/plain) carrying a Segment batch or message"}
}
