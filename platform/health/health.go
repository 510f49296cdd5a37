// Package health serves the liveness and readiness endpoints.
//
// /healthz answers 200 while the process runs. /readyz runs every registered
// check (each with a short deadline) and answers 503 naming the ones that fail,
// so an orchestrator routes traffic only to instances whose dependencies work.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/evtrack/telemetry/platform/periodic"
)

// CheckFunc reports whether one dependency is usable.
type CheckFunc func(ctx context.Context) error

// Checker holds named readiness checks.
type Checker struct {
	timeout time.Duration
	mu      sync.RWMutex
	checks  map[string]CheckFunc
}

// NewChecker returns a Checker whose checks each get timeout.
func NewChecker(timeout time.Duration) *Checker {
	return &Checker{timeout: timeout, checks: map[string]CheckFunc{}}
}

// Add registers a check under name.
func (c *Checker) Add(name string, check CheckFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks[name] = check
}

// Report is the body of /readyz.
type Report struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Run runs every check concurrently and reports.
func (c *Checker) Run(ctx context.Context) (Report, bool) {
	c.mu.RLock()
	names := make([]string, 0, len(c.checks))
	for n := range c.checks {
		names = append(names, n)
	}
	c.mu.RUnlock()
	sort.Strings(names)

	results := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		c.mu.RLock()
		check := c.checks[n]
		c.mu.RUnlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			results[i] = check(cctx)
		}()
	}
	wg.Wait()

	rep := Report{Status: "ok", Checks: make(map[string]string, len(names))}
	ok := true
	for i, n := range names {
		if results[i] != nil {
			ok = false
			rep.Status = "unavailable"
			rep.Checks[n] = results[i].Error()
			continue
		}
		rep.Checks[n] = "ok"
	}
	return rep, ok
}

// Register adds /healthz and /readyz to mux.
func (c *Checker) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rep, ok := c.Run(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// ServerTimeouts bound every connection of an operational HTTP listener
// (health, metrics, profiles): a client that sends its headers slowly, never
// finishes a request or keeps an idle connection is cut off.
type ServerTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultServerTimeouts suit health checks and metric scrapes.
var DefaultServerTimeouts = ServerTimeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: time.Minute}

// NewServer returns an HTTP server for h with t's timeouts and a 16 KiB
// header limit.
func NewServer(h http.Handler, t ServerTimeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write,
		IdleTimeout: t.Idle, MaxHeaderBytes: 16 << 10}
}

// MirrorGRPC keeps hs (the standard gRPC health service) in step with the
// checks: the server's status ("") and each of services' is SERVING while
// every check passes, NOT_SERVING otherwise; run at once, then every
// interval until ctx ends. Call hs.Shutdown when the service stops (it then
// answers NOT_SERVING whatever this sets).
func (c *Checker) MirrorGRPC(ctx context.Context, hs *grpchealth.Server, interval time.Duration, services ...string) {
	periodic.Run(ctx, interval, func(ctx context.Context) {
		st := healthpb.HealthCheckResponse_SERVING
		if _, ok := c.Run(ctx); !ok {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		for _, name := range append([]string{""}, services...) {
			hs.SetServingStatus(name, st)
		}
	})
}
