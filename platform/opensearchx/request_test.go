package opensearchx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opensearch-project/opensearch-go/v2"
)

// answering is a fake OpenSearch that answers every request with status and
// body.
func answering(t *testing.T, status int, body string) (url string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDoClassifiesAnswers: a 2xx answer is the body; an error status is a
// *StatusError with OpenSearch's error type and at most ErrorBodyLimit of
// the body, unavailable for 429 and 5xx only; no answer at all is
// unavailable, a request cut by its own deadline is not.
func TestDoClassifiesAnswers(t *testing.T) {
	long := `{"error":{"type":"x_exception","reason":"` + strings.Repeat("r", 10000) + `"},"status":400}`
	tests := []struct {
		name        string
		status      int
		body        string
		wantBody    string
		wantStatus  int    // 0: no *StatusError
		wantType    string // of the *StatusError
		unavailable bool
	}{
		{"200", 200, `{"ok":true}`, `{"ok":true}`, 0, "", false},
		{"201", 201, `{}`, `{}`, 0, "", false},
		{"400 with a type", 400, `{"error":{"type":"illegal_argument_exception","reason":"r"},"status":400}`, "", 400, "illegal_argument_exception", false},
		{"404", 404, `{"error":{"type":"index_not_found_exception"},"status":404}`, "", 404, "index_not_found_exception", false},
		{"413 from a proxy (html)", 413, "<html>413 Request Entity Too Large</html>", "", 413, "", false},
		{"429", 429, `{"error":{"type":"rejected_execution_exception"},"status":429}`, "", 429, "rejected_execution_exception", true},
		{"500", 500, `{"error":{"type":"null_pointer_exception"},"status":500}`, "", 500, "null_pointer_exception", true},
		{"502 from a proxy", 502, "bad gateway", "", 502, "", true},
		{"503", 503, "", "", 503, "", true},
		{"a string error", 400, `{"error":"no handler found","status":400}`, "", 400, "", false},
		{"a long error body, cut", 400, long, "", 400, "", false}, // the type is not read from a cut body
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := answering(t, tt.status, tt.body)
			got, err := Do(context.Background(), newClient(t, url), Request{Method: http.MethodGet, Path: "/x"})
			if tt.wantStatus == 0 {
				if err != nil || string(got) != tt.wantBody {
					t.Fatalf("Do = %q, %v; want %q", got, err, tt.wantBody)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Status != tt.wantStatus || se.Type != tt.wantType {
				t.Fatalf("error %v (%#v); want a StatusError %d %q", err, se, tt.wantStatus, tt.wantType)
			}
			if len(se.Body) > ErrorBodyLimit || !strings.HasPrefix(tt.body, se.Body) || (len(tt.body) <= ErrorBodyLimit && se.Body != tt.body) {
				t.Errorf("body kept %d bytes of %d: %.80q", len(se.Body), len(tt.body), se.Body)
			}
			if got := errors.Is(err, ErrUnavailable); got != tt.unavailable {
				t.Errorf("errors.Is(ErrUnavailable) = %v, want %v", got, tt.unavailable)
			}
		})
	}
}

func TestDoWithoutAnswer(t *testing.T) {
	t.Run("connection refused is unavailable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		_, err := Do(context.Background(), newClient(t, url), Request{Method: http.MethodGet, Path: "/"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v, want ErrUnavailable", err)
		}
	})
	t.Run("own deadline is not unavailable", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Do(ctx, newClient(t, srv.URL), Request{Method: http.MethodGet, Path: "/"})
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v, want a deadline, not ErrUnavailable", err)
		}
	})
}

// TestDoSendsTheRequest: method, path with its query, and a JSON body.
func TestDoSendsTheRequest(t *testing.T) {
	var got struct {
		method, uri, ctype, body string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.uri, got.ctype, got.body = r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), string(b)
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	}))
	t.Cleanup(srv.Close)
	var out struct {
		Acknowledged bool `json:"acknowledged"`
	}
	err := DoJSON(context.Background(), newClient(t, srv.URL), Request{Method: http.MethodPut, Path: "/idx/_mapping?ignore_unavailable=true",
		Body: []byte(`{"properties":{}}`)}, &out)
	if err != nil || !out.Acknowledged {
		t.Fatalf("DoJSON: %v %+v", err, out)
	}
	if got.method != http.MethodPut || got.uri != "/idx/_mapping?ignore_unavailable=true" || got.ctype != "application/json" || got.body != `{"properties":{}}` {
		t.Fatalf("sent %+v", got)
	}
}

// TestDoReadsTheAnswerOnce: a 2xx answer is read once, into the caller's
// buffer; the client's own read of every answer (a buffer grown from 512
// bytes) is not made. Without answerReader a 1 MiB answer allocated more
// than 2 MiB a call.
func TestDoReadsTheAnswerOnce(t *testing.T) {
	answer := []byte(`{"hits":"` + strings.Repeat("h", 1<<20) + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(answer) }))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	buf := make([]byte, 0, 2<<20)
	var got []byte
	var err error
	allocated := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.TotalAlloc
	}
	const calls = 8
	before := allocated()
	for range calls {
		if got, err = DoAppend(context.Background(), c, Request{Method: http.MethodPost, Path: "/x/_search"}, buf[:0]); err != nil {
			t.Fatal(err)
		}
	}
	perCall := (allocated() - before) / calls
	if !bytes.Equal(got, answer) || &got[0] != &buf[:1][0] {
		t.Fatalf("got %d bytes (in the caller's buffer: %v), want the %d of the answer", len(got), &got[0] == &buf[:1][0], len(answer))
	}
	if perCall > uint64(len(answer))/4 {
		t.Errorf("%d bytes allocated a call for a %d-byte answer read into the caller's buffer", perCall, len(answer))
	}
}

// TestDoAnswerCutShort: an answer whose body breaks off is an error, and
// the request is not sent to another node (the first did the work).
func TestDoAnswerCutShort(t *testing.T) {
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		sent.Add(1)
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, `{"took":1,`)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	_, err := Do(context.Background(), newClient(t, srv.URL+","+srv.URL), Request{Method: http.MethodPost, Path: "/_bulk"})
	if err == nil || !strings.Contains(err.Error(), "read answer") {
		t.Fatalf("error %v, want a failed read of the answer", err)
	}
	if n := sent.Load(); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
}

func newClient(t *testing.T, url string) *opensearch.Client {
	t.Helper()
	c, err := NewClient(Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAppendAll: the whole body is appended after what the buffer holds,
// whatever length was declared (none, exact, short, long), in reads of any
// size; a read error is returned.
func TestAppendAll(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	broken := errors.New("connection reset")
	tests := []struct {
		name     string
		prefix   string
		declared int64
		r        io.Reader
		want     string
		wantErr  error
	}{
		{"unknown length", "", -1, strings.NewReader(body), body, nil},
		{"exact length", "", int64(len(body)), strings.NewReader(body), body, nil},
		{"declared short", "", 10, strings.NewReader(body), body, nil},
		{"declared long", "", 1 << 40, strings.NewReader(body), body, nil},
		{"after what the buffer holds", "kept:", int64(len(body)), strings.NewReader(body), "kept:" + body, nil},
		{"one byte a read", "", int64(len(body)), iotest.OneByteReader(strings.NewReader(body)), body, nil},
		{"empty", "kept", 0, strings.NewReader(""), "kept", nil},
		{"read error", "", -1, io.MultiReader(strings.NewReader(body[:100]), iotest.ErrReader(broken)), body[:100], broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendAll([]byte(tt.prefix), tt.r, tt.declared)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("got %d bytes %.20q…, want %d bytes %.20q…", len(got), got, len(tt.want), tt.want)
			}
		})
	}
}
