package opensearchx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opensearch-project/opensearch-go/v2"
)

// ErrorBodyLimit is how much of an error answer's body a StatusError keeps:
// enough for OpenSearch's error type and reason, never a whole page an
// intermediary sends.
const ErrorBodyLimit = 4 << 10

// ErrUnavailable marks a request the cluster could not serve now: no answer
// (connection refused or reset, DNS), 429 or a 5xx. The same request may
// pass later. Test for it with errors.Is; a request cut short by its own
// context is not unavailable (errors.Is(err, context.DeadlineExceeded)).
var ErrUnavailable = errors.New("opensearch unavailable")

// StatusError is a request OpenSearch (or a proxy in front of it) answered
// with an error status as a whole.
type StatusError struct {
	Status int
	Type   string // OpenSearch's error type ("error":{"type":...}), when the body kept says
	Body   string // the first ErrorBodyLimit bytes of the body
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// Is makes errors.Is(err, ErrUnavailable) hold for a 429 or a 5xx.
func (e *StatusError) Is(target error) bool {
	return target == ErrUnavailable && (e.Status == http.StatusTooManyRequests || e.Status >= 500)
}

// Request is one call to OpenSearch's REST API.
type Request struct {
	Method string
	Path   string // with its query string, e.g. "/_cat/indices/p-*?format=json&h=index"
	Body   []byte // JSON or NDJSON; nil: none
}

// Do performs r through c (its transport: tracing, credentials) and returns
// the body of a 2xx answer. An error status is a *StatusError; a request that
// got no answer is an error wrapping ErrUnavailable, unless ctx ended first
// (then it wraps ctx's error).
func Do(ctx context.Context, c *opensearch.Client, r Request) ([]byte, error) {
	return DoAppend(ctx, c, r, nil)
}

// DoAppend is Do appending the answer's body to buf and returning the
// extended slice, so that a caller reading many answers (the query
// service's searches) reuses one buffer instead of growing a new one, copy
// by copy, for each.
func DoAppend(ctx context.Context, c *opensearch.Client, r Request, buf []byte) ([]byte, error) {
	return perform(ctx, c, r, buf)
}

// DoJSON is Do decoding a 2xx answer into out (nil: the answer is read and
// dropped).
func DoJSON(ctx context.Context, c *opensearch.Client, r Request, out any) error {
	b, err := perform(ctx, c, r, nil)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", r.Method, r.Path, err)
	}
	return nil
}

// presizeLimit bounds the room appendAll makes at once from a declared
// length; a longer body grows the buffer as it is read.
const presizeLimit = 16 << 20

// appendAll appends what r holds to buf, making room for size bytes (the
// declared length, -1 unknown) first; on a read error it returns what was
// read with the error.
func appendAll(buf []byte, r io.Reader, size int64) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	if size > 0 {
		// MinRead more: ReadFrom wants that much room for the read that
		// finds the end, and would otherwise grow (copy) the buffer for it.
		b.Grow(int(min(size, presizeLimit)) + bytes.MinRead)
	}
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// perform sends r and appends the body of a 2xx answer to buf.
func perform(ctx context.Context, c *opensearch.Client, r Request, buf []byte) ([]byte, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body) // sets ContentLength
	}
	into := &answer{buf: buf}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, answerKey{}, into), r.Method, r.Path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json") // what opensearchapi sends, _bulk included
	}
	res, err := c.Perform(req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, readStatusError(res)
	}
	if into.read {
		return into.buf, nil
	}
	// A client not built by NewClient: its answer is read here.
	b, err := appendAll(buf, res.Body, res.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", r.Method, r.Path, err)
	}
	return b, nil
}

// answerKey is the context key of a request's *answer.
type answerKey struct{}

// answer is the buffer a request's 2xx answer is read into, by
// answerReader.
type answer struct {
	buf  []byte // the caller's; the body is appended to it
	read bool   // the body is in buf
}

// answerReader is the outermost transport of a client from NewClient. For
// a request that carries an *answer (perform's), it reads a 2xx answer's
// body into the answer's buffer at once, sized from Content-Length, and
// hands the client an empty body. opensearch-go's client reads every
// answer whole before its caller sees it (io.ReadAll: a buffer grown from
// 512 bytes, copied as it grows), which the caller then copied again; a
// first page's answer of 60 KB cost the query service a tenth of its CPU
// that way. An error answer passes as it is (readStatusError reads a bound
// of it).
type answerReader struct{ next http.RoundTripper }

func (t answerReader) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	into, _ := req.Context().Value(answerKey{}).(*answer)
	if err != nil || into == nil || res.StatusCode < 200 || res.StatusCode > 299 {
		return res, err
	}
	b, err := appendAll(into.buf, res.Body, res.ContentLength)
	res.Body.Close()
	if err != nil {
		// Not the round trip's error, which the client would answer by
		// sending the request to another node: this one did the work.
		// perform reads the error from the body.
		res.Body = io.NopCloser(failedRead{err})
		return res, nil
	}
	into.buf, into.read = b, true
	res.Body = http.NoBody
	return res, nil
}

// failedRead is a body whose read failed with err.
type failedRead struct{ err error }

func (r failedRead) Read([]byte) (int, error) { return 0, r.err }

// readStatusError reads the start of an error answer.
func readStatusError(res *http.Response) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, ErrorBodyLimit))
	var doc struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &doc) // an intermediary's page, or a string error, has no type
	return &StatusError{Status: res.StatusCode, Type: doc.Error.Type, Body: string(body)}
}
