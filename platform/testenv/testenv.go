// Package testenv is the one place tests get the real servers from.
//
// `make test` (scripts/servers.sh) starts a real nats-server with JetStream and
// a real OpenSearch node and exports NATS_URL and OPENSEARCH_URL. A test that
// needs them calls NATS or OpenSearch: when the server does not answer the test
// fails — integration tests are never skipped silently — except under
// `go test -short`, where they are skipped for a fast local loop.
//
// It is also the test toolkit shared by every module: Eventually (wait on a
// condition, never a sleep), Start (run a service in-process for the rest of
// a test), Proxy (a dependency that goes away and comes back), Name (names
// of a test's own streams and indices), Get and Send (HTTP calls), the
// OpenSearch helpers (Do, PutJSON, Exists, Refresh, Count, Bulk,
// DeleteOnCleanup, DeleteIndexData) built on opensearchx, the JetStream
// helpers (JetStream, DeleteStream, StreamInfo, ConsumerInfo), and the
// harness of tests that run the services as processes (MainBuilding,
// Starter, StartProc, FreeAddr) built on procs.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evtrack/telemetry/platform/opensearchx"
)

const (
	defaultNATSURL       = "nats://127.0.0.1:4222"
	defaultOpenSearchURL = "http://127.0.0.1:9200"
)

func need(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: skipping test that needs a real %s", what)
	}
}

// NATSURL returns the URL of a reachable JetStream-enabled nats-server.
func NATSURL(t testing.TB) string {
	t.Helper()
	need(t, "NATS")
	url := env("NATS_URL", defaultNATSURL)
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("testenv: no NATS at %s (start it with scripts/servers.sh start): %v", url, err)
	}
	defer nc.Close()
	if nc.Status() != nats.CONNECTED {
		t.Fatalf("testenv: NATS at %s is %s", url, nc.Status())
	}
	return url
}

// OpenSearchURL returns the URL of a reachable OpenSearch node.
func OpenSearchURL(t testing.TB) string {
	t.Helper()
	need(t, "OpenSearch")
	url := env("OPENSEARCH_URL", defaultOpenSearchURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := opensearchx.Do(ctx, OpenSearch(t, url), opensearchx.Request{Method: http.MethodGet, Path: "/_cluster/health?wait_for_status=yellow&timeout=5s"})
	var status *opensearchx.StatusError
	if errors.As(err, &status) {
		t.Fatalf("testenv: OpenSearch at %s answered %v", url, err)
	}
	if err != nil {
		t.Fatalf("testenv: no OpenSearch at %s (start it with scripts/servers.sh start): %v", url, err)
	}
	return url
}

// Name returns a name unique to this test run, safe for JetStream stream and
// consumer names, NATS subject tokens and OpenSearch index names (lower case).
// Give every test its own streams and indices so tests run in parallel.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(prefix) + "-" + hex.EncodeToString(b)
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// DeleteIndexData removes, when the test ends, everything a test wrote
// under prefix in OpenSearch at url: the daily indices, the daily
// dead-letter and audit indices (and the single ones of earlier versions),
// and their templates. Best effort: cleanup never fails a test.
func DeleteIndexData(t testing.TB, url, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		_ = opensearchx.DeletePrefix(context.Background(), http.DefaultClient, url, prefix)
	})
}

// Get GETs url (a service's health or metrics endpoint, an OpenSearch
// path) and returns the status code and the body; a transport error fails
// the test.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Send(t, req)
}

// Send sends req with the default client and returns the status code and
// the body; a transport error fails the test.
func Send(t testing.TB, req *http.Request) (int, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// GetJSON GETs url and, on 200, decodes the body into v (when not nil). It
// returns the status code; a transport or decoding error fails the test.
func GetJSON(t testing.TB, url string, v any) int {
	t.Helper()
	code, b := Get(t, url)
	if v != nil && code == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return code
}
