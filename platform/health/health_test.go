package health

import (
	"context"
	"encoding/json"
	"errors"
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
