package service

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	telemetryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/v1"
	"github.com/evtrack/telemetry/platform/config"
	"github.com/evtrack/telemetry/platform/otelx"
	"github.com/evtrack/telemetry/platform/testenv"
)

const testKey = "test-write-key-0123456789"

type ingestEnv struct {
	base     string // http://host:port
	metrics  string // http://host:port of /metrics
	grpcAddr string
	stream   string
	js       njs.JetStream
	stop     func() error // stops the service (SIGTERM) and returns its Run's error
}

// testVars is the configuration of an ingest of the test's own: local
// addresses on free ports, the test write key, the NATS at natsURL, and a
// stream and subjects named after the test.
func testVars(t *testing.T, natsURL string) map[string]string {
	t.Helper()
	name := strings.ReplaceAll(testenv.Name(t, "ingest"), "-", "_")
	return map[string]string{
		"INGEST_HTTP_ADDR":      "127.0.0.1:0",
		"INGEST_GRPC_ADDR":      "127.0.0.1:0",
		"INGEST_WRITE_KEYS":     testKey + ":app-test",
		"NATS_URL":              natsURL,
		"EVENTS_STREAM":         strings.ToUpper(name),
		"EVENTS_SUBJECT_PREFIX": name + ".events",
	}
}

// startIngest runs an ingest service on a stream of its own against the NATS
// at natsURL ("" for the shared test server), with extra settings from env.
// The service runs in-process until the test ends (testenv.Start), then is
// stopped and waited for before its stream is deleted; an error from its
// Run fails the test.
func startIngest(t *testing.T, natsURL string, env map[string]string) *ingestEnv {
	t.Helper()
	return startIngestLogging(t, natsURL, env, slog.New(slog.DiscardHandler))
}

// startIngestLogging is startIngest with the service logging to log.
func startIngestLogging(t *testing.T, natsURL string, env map[string]string, log *slog.Logger) *ingestEnv {
	t.Helper()
	if natsURL == "" {
		natsURL = testenv.NATSURL(t)
	}
	vars := testVars(t, natsURL)
	stream := vars["EVENTS_STREAM"]
	vars["EVENTS_STREAM_MAX_AGE"] = "1h"
	maps.Copy(vars, env)
	cfg, err := LoadConfig(config.MapLookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	js, err := njs.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the service stopped (cleanups run last first)
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = js.DeleteStream(dctx, stream)
		dcancel()
		nc.Close()
	})
	svc, err := New(t.Context(), cfg, log, otelx.ForTest(noop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Start(t, "ingest", svc.Run)
	return &ingestEnv{base: "http://" + svc.Addr(), metrics: "http://" + svc.MetricsAddr(), grpcAddr: svc.GRPCAddr(), stream: stream, js: js, stop: stop}
}

func (e *ingestEnv) messages(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// storedBatch is the batch stored as the stream's message seq (from 1); a
// missing or undecodable message fails the test.
func (e *ingestEnv) storedBatch(t *testing.T, seq uint64) *telemetryv1.EventBatch {
	t.Helper()
	s, err := e.js.Stream(context.Background(), e.stream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatalf("no message %d in the stream: %v", seq, err)
	}
	var batch telemetryv1.EventBatch
	if err := proto.Unmarshal(raw.Data, &batch); err != nil {
		t.Fatalf("message %d: %v", seq, err)
	}
	return &batch
}

// request is one HTTP call to the ingest service.
type request struct {
	auth        string
	contentType string
	encoding    string
	header      map[string]string
	body        []byte
	path        string       // "" is /v1/track
	client      *http.Client // nil is http.DefaultClient
}

type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r response) errorCode() string {
	e, _ := r.json["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (e *ingestEnv) post(t *testing.T, r request) response {
	t.Helper()
	res, err := e.tryPost(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tryPost is post for goroutines: it reports what went wrong instead of
// failing the test.
func (e *ingestEnv) tryPost(r request) (response, error) {
	path := r.path
	if path == "" {
		path = "/v1/track"
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+path, bytes.NewReader(r.body))
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	req.Header.Set("User-Agent", "TestApp/1.0 (iPhone; iOS 18.1)")
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	client := r.client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	if err := json.Unmarshal(raw, &out.json); err != nil {
		return out, fmt.Errorf("status %d, body is not JSON: %q", res.StatusCode, raw)
	}
	return out, nil
}

func bearer(k string) string { return "Bearer " + k }

// grpcConn dials the service's gRPC port in plain text (the test is on the
// same host), with opts; the connection is closed when the test ends.
func (e *ingestEnv) grpcConn(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(e.grpcAddr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// authed is a context whose gRPC calls carry key as a bearer token.
func authed(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", bearer(key))
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// event returns one valid event as JSON with id.
func event(id string) string {
	return `{"event_id":"` + id + `","user_id":"u1","session_id":"s1","event_name":"tap","client_timestamp":"2026-11-26T10:00:00Z"}`
}

// postOversized sends headers announcing a body of size bytes and reads the
// response while the body is still being written, as a client that watches
// for an early answer does: the server must answer from Content-Length alone.
func (e *ingestEnv) postOversized(t *testing.T, size int) (status int, body string) {
	t.Helper()
	return e.postEarly(t, bearer(testKey), size, size)
}

// postEarly announces a body of size bytes with the given Authorization
// header (none if ""), sends only its first send bytes, and reads the
// response: a server that waits for the whole body before answering gives
// no response within the read deadline.
func (e *ingestEnv) postEarly(t *testing.T, auth string, size, send int) (status int, body string) {
	t.Helper()
	status, body, err := e.tryPostEarly(auth, size, send)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// tryPostEarly is postEarly for goroutines.
func (e *ingestEnv) tryPostEarly(auth string, size, send int) (status int, body string, err error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	if auth != "" {
		auth = "Authorization: " + auth + "\r\n"
	}
	fmt.Fprintf(conn, "POST /v1/track HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", auth, size)
	go func() { // keep writing until the server closes; errors are expected
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		for sent := 1; sent < send; sent += len(chunk) {
			if _, err := conn.Write(chunk[:min(len(chunk), send-sent)]); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("no response to a %d-byte body of which %d bytes were sent: %w", size, send, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// dialFrom dials from the local address ip (on Linux any 127.0.0.0/8
// address is the loopback), so a test can call as a second client address.
func dialFrom(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return d.DialContext
}

// httpClientFrom is an HTTP client whose connections come from the local
// address ip (dialFrom); its idle connections are closed when the test ends.
func httpClientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: dialFrom(ip)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
