package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Aside serves a service's /metrics, /healthz and /readyz on an address of
// their own, beside the port a load balancer forwards to the internet: the
// operator's scrapes stay inside the private network.
type Aside struct {
	ln  net.Listener
	srv *http.Server
}

// ListenAside listens on addr for checker's endpoints and metrics.
func ListenAside(addr string, checker *Checker, metrics http.Handler) (*Aside, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	checker.Register(mux)
	mux.Handle("GET /metrics", metrics)
	return &Aside{ln: ln, srv: NewServer(mux, DefaultServerTimeouts)}, nil
}

// Addr is the address it listens on.
func (a *Aside) Addr() string { return a.ln.Addr().String() }

// Serve serves until Shutdown (then it returns nil).
func (a *Aside) Serve() error {
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Shutdown stops it, waiting for scrapes in progress until ctx ends.
func (a *Aside) Shutdown(ctx context.Context) error { return a.srv.Shutdown(ctx) }

// Close releases the listener of an Aside that never served.
func (a *Aside) Close() error { return a.ln.Close() }
