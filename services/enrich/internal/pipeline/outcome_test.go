package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// pingOnly is an Indexer whose cluster answers health checks or not.
type pingOnly struct {
	Indexer
	up bool
}

func (p pingOnly) Ping(context.Context) error {
	if p.up {
		return nil
	}
	return errors.New("no answer")
}

// TestRequestOutcome: a request failing as a whole is the cluster's fault
// (wait, spend no delivery) or the message's (spend a delivery), by what
// OpenSearch said and, for 500s and timeouts, by whether it still answers.
func TestRequestOutcome(t *testing.T) {
	refused := fmt.Errorf("bulk: %w", &url.Error{Op: "Post", URL: "http://os/_bulk", Err: syscall.ECONNREFUSED})
	timeout := fmt.Errorf("bulk: %w", &url.Error{Op: "Post", URL: "http://os/_bulk", Err: context.DeadlineExceeded})
	status := func(code int, typ string) error {
		return fmt.Errorf("bulk of 3 documents: %w", &RequestError{Status: code, Type: typ})
	}
	tests := []struct {
		name      string
		err       error
		clusterUp bool
		want      Outcome
		wantType  string
	}{
		{"connection refused", refused, false, Unavailable, "unreachable"},
		{"429 whole request", status(429, "rejected_execution_exception"), true, Unavailable, "rejected_execution_exception"},
		{"503", status(503, ""), true, Unavailable, "http_503"},
		{"502 from a proxy", status(502, ""), true, Unavailable, "http_502"},
		{"401: credentials", status(401, "security_exception"), true, Unavailable, "security_exception"},
		{"413: too large", status(413, ""), true, Failed, "http_413"},
		{"400: unreadable request", status(400, "illegal_argument_exception"), true, Failed, "illegal_argument_exception"},
		{"500, cluster answers", status(500, "null_pointer_exception"), true, Failed, "null_pointer_exception"},
		{"500, cluster does not answer", status(500, ""), false, Unavailable, "http_500"},
		{"timeout, cluster answers", timeout, true, Failed, "timeout"},
		{"timeout, cluster does not answer", timeout, false, Unavailable, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pipeline{idx: pingOnly{up: tt.clusterUp}}
			got, f := p.requestOutcome(context.Background(), tt.err)
			if got != tt.want || f.errorType != tt.wantType {
				t.Fatalf("outcome %s, error type %q; want %s, %q", got, f.errorType, tt.want, tt.wantType)
			}
		})
	}
}

// TestRetryDelay: the redelivery delay doubles per delivery up to its bound.
func TestRetryDelay(t *testing.T) {
	p := &Pipeline{cfg: Config{RetryDelay: 5 * time.Second, MaxRetryDelay: time.Minute}}
	for _, tc := range []struct {
		delivered int
		want      time.Duration
	}{{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {4, 40 * time.Second}, {5, time.Minute}, {1000, time.Minute}} {
		if got := p.retryDelay(tc.delivered); got != tc.want {
			t.Errorf("delivery %d: delay %s, want %s", tc.delivered, got, tc.want)
		}
	}
}
