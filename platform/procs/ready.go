package procs

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// FreeAddr returns a 127.0.0.1:port that was free a moment ago (the kernel
// picked it for a listener that is closed again), to pass to a process.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Port is the port of a host:port.
func Port(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("port of %q: %w", addr, err)
	}
	return strconv.Atoi(p)
}

// Readiness says whether an HTTP status means ready.
type Readiness func(status int) bool

// OK is ready on 200.
func OK(status int) bool { return status == http.StatusOK }

// Answering is ready on any HTTP answer (an endpoint without a health check).
func Answering(int) bool { return true }

// probeInterval is how often WaitHTTP asks.
const probeInterval = 100 * time.Millisecond

// WaitHTTP polls url with GET until ready accepts its status. After within
// (or when ctx ends) it fails, saying what it last saw.
func WaitHTTP(ctx context.Context, url string, within time.Duration, ready Readiness) error {
	return waitHTTP(ctx, url, within, ready, nil)
}

// WaitHTTP is WaitHTTP for the process's own endpoint: it fails at once if
// the process exits, and its error ends with the process's last log lines.
func (p *Proc) WaitHTTP(ctx context.Context, url string, within time.Duration, ready Readiness) error {
	if err := waitHTTP(ctx, url, within, ready, p.Exited); err != nil {
		return fmt.Errorf("%s: %w; last log lines:\n%s", p.spec.Name, err, p.Tail(30))
	}
	return nil
}

// WaitHTTPPID is WaitHTTP for the endpoint of a process this one did not
// start (a detached server a PID file names): it fails at once if that
// process is no longer running.
func WaitHTTPPID(ctx context.Context, f PIDFile, url string, within time.Duration, ready Readiness) error {
	return waitHTTP(ctx, url, within, ready, func() (bool, error) {
		pid, err := f.Running()
		return pid == 0, err
	})
}

// waitHTTP polls url; exited, if set, says whether the process serving it
// has gone.
func waitHTTP(ctx context.Context, url string, within time.Duration, ready Readiness, exited func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			if ready(res.StatusCode) {
				return nil
			}
			last = "status " + res.Status
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		if exited != nil {
			if gone, exit := exited(); gone && exit != nil {
				return fmt.Errorf("exited before %s was ready (%v)", url, exit)
			} else if gone {
				return fmt.Errorf("exited before %s was ready", url)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (last: %s)", url, within, last)
		case <-tick.C:
		}
	}
}
