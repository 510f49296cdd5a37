package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		checks     map[string]CheckFunc
		wantStatus int
		wantChecks map[string]string
	}{
		{"no checks", nil, http.StatusOK, map[string]string{}},
		{"all pass", map[string]CheckFunc{"nats": func(context.Context) error { return nil }}, http.StatusOK, map[string]string{"nats": "ok"}},
		{"one fails", map[string]CheckFunc{
			"nats":       func(context.Context) error { return nil },
			"opensearch": func(context.Context) error { return errors.New("connection refused") },
		}, http.StatusServiceUnavailable, map[string]string{"nats": "ok", "opensearch": "connection refused"}},
		{"slow check times out", map[string]CheckFunc{"slow": func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
			http.StatusServiceUnavailable, map[string]string{"slow": "context deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(50 * time.Millisecond)
			for n, f := range tt.checks {
				c.Add(n, f)
			}
			mux := http.NewServeMux()
			c.Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			var rep Report
			if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Checks) != len(tt.wantChecks) {
				t.Fatalf("checks %v, want %v", rep.Checks, tt.wantChecks)
			}
			for k, v := range tt.wantChecks {
				if rep.Checks[k] != v {
					t.Errorf("check %s = %q, want %q", k, rep.Checks[k], v)
				}
			}
		})
	}
}

func TestHealthzAlwaysOK(t *testing.T) {
	c := NewChecker(time.Millisecond)
	c.Add("broken", func(context.Context) error { return errors.New("down") })
	mux := http.NewServeMux()
	c.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
}

// TestServerClosesIdleAndSlowConnections: an operational listener cuts off
// an idle keep-alive connection and a client that never finishes its headers.
func TestServerClosesIdleAndSlowConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ServerTimeouts{ReadHeader: 200 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 200 * time.Millisecond})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	for name, send := range map[string]string{
		"idle after a request": "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"headers never ended":  "GET / HTTP/1.1\r\nHost: x\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// Read whatever the server answers until it closes the connection.
			if _, err := io.Copy(io.Discard, c); err != nil {
				t.Fatalf("the connection was not closed by the server: %v", err)
			}
		})
	}
}
