package service

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	queryv1 "github.com/evtrack/telemetry/contracts/gen/go/telemetry/query/v1"
)

// rawCodec sends a []byte as the request message as is, so a test can send
// bytes no protobuf encoder would produce; replies are not decoded.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(_ []byte, _ any) error { return nil }
func (rawCodec) Name() string                    { return "proto" }

// TestTokenCheckedBeforeDecode: on the gRPC server the read token is checked
// from the headers before the message is read. Without a valid token, a
// request too large to read or not protobuf at all is refused
// Unauthenticated (not ResourceExhausted, not a decoding error); with a
// valid token, a message over the contract's size is refused
// ResourceExhausted before it is decoded. Health stays open.
func TestTokenCheckedBeforeDecode(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	huge := make([]byte, 5<<20) // over gRPC's default 4 MiB limit too
	for i := range huge {
		huge[i] = 0xff // not protobuf
	}
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	oversized, err := proto.Marshal(&queryv1.SearchEventsRequest{UserId: "u1", Q: strings.Repeat("a", 200<<10)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ctx      context.Context
		body     []byte
		wantCode codes.Code
		wantText string
	}{
		{"no token, 5 MiB body", context.Background(), huge, codes.Unauthenticated, "read token is required"},
		{"unknown token, 5 MiB body", authed("token-nobody-0123456789"), huge, codes.Unauthenticated, "unknown read token"},
		{"no token, not protobuf", context.Background(), garbage, codes.Unauthenticated, "read token is required"},
		{"unknown token, not protobuf", authed("token-nobody-0123456789"), garbage, codes.Unauthenticated, "unknown read token"},
		{"valid token, 200 KiB request", authed(tokenA), oversized, codes.ResourceExhausted, "larger than max"},
		{"valid token, 5 MiB body", authed(tokenA), huge, codes.ResourceExhausted, "larger than max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tt.ctx, 10*time.Second)
			defer cancel()
			var reply []byte
			err := e.conn.Invoke(ctx, queryv1.QueryService_SearchEvents_FullMethodName, tt.body, &reply, grpc.ForceCodec(rawCodec{}))
			if st := status.Convert(err); st.Code() != tt.wantCode || !strings.Contains(st.Message(), tt.wantText) {
				t.Fatalf("got %v, want %v mentioning %q", err, tt.wantCode, tt.wantText)
			}
		})
	}
	t.Run("a valid call still works on the same connection", func(t *testing.T) {
		if _, err := e.grpc.SearchEvents(authed(tokenA), &queryv1.SearchEventsRequest{UserId: "u1"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("health needs no token", func(t *testing.T) {
		if _, err := healthpb.NewHealthClient(e.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("metadata over the header limit", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(authed(tokenA), "x-padding", strings.Repeat("p", 32<<10))
		_, err := e.grpc.SearchEvents(ctx, &queryv1.SearchEventsRequest{UserId: "u1"})
		if err == nil {
			t.Fatal("32 KiB of metadata accepted")
		}
	})
}

// countingBody streams n bytes of a JSON object whose one string member
// never ends, counting what the client was asked to send: how much of the
// body the server read, give or take the sockets' buffers.
// The client's transport may still be reading it when the answer is in.
type countingBody struct {
	n    int64
	sent atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	sent := b.sent.Load()
	if sent >= b.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n-sent)]
	for i := range p {
		p[i] = 'a'
	}
	if sent == 0 && len(p) >= 13 {
		copy(p, `{"user_id":"a`)
	}
	b.sent.Add(int64(len(p)))
	return len(p), nil
}

// TestHTTPTokenCheckedBeforeBody: on the HTTP face, a request with a body
// is refused without a valid read token before the body is read (the
// gateway would decode it whole first), and with one, a body over
// search.MaxRequestBytes is refused at its declared length or cut off at
// the limit when it comes chunked. Each body is 256 MiB; what the client
// got to send shows how much of it the server read.
func TestHTTPTokenCheckedBeforeBody(t *testing.T) {
	t.Parallel()
	e := startQuery(t, nil)
	const size = 256 << 20
	tests := []struct {
		name     string
		token    string
		chunked  bool
		wantCode int
		wantText string
	}{
		{"no token, declared length", "", false, http.StatusUnauthorized, "read token is required"},
		{"no token, chunked", "", true, http.StatusUnauthorized, "read token is required"},
		{"unknown token, chunked", "token-nobody-0123456789", true, http.StatusUnauthorized, "unknown read token"},
		{"valid token, declared length over the limit", tokenAll, false, http.StatusRequestEntityTooLarge, "at most 131072"},
		{"valid token, chunked over the limit", tokenAll, true, http.StatusBadRequest, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &countingBody{n: size}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.http+"/v1/deletions", body)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.chunked {
				req.ContentLength = size
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantCode || !strings.Contains(string(answer), tt.wantText) {
				t.Fatalf("%d %s, want %d mentioning %q", res.StatusCode, answer, tt.wantCode, tt.wantText)
			}
			// The server stopped reading at once (or at the limit): the
			// client sent at most the limit and what the sockets buffer.
			if sent := body.sent.Load(); sent > 16<<20 {
				t.Fatalf("the client got to send %d MiB of the body", sent>>20)
			}
			t.Logf("%d %s after %d KiB of the body", res.StatusCode, answer, body.sent.Load()>>10)
		})
	}
}

// waitClosed reads conn until the peer closes it (EOF or reset: nil) or
// within has passed (an error). The read deadline bounds the wait; nothing
// sleeps.
func waitClosed(conn net.Conn, within time.Duration) error {
	if err := conn.SetReadDeadline(time.Now().Add(within)); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		switch {
		case err == nil:
			continue // e.g. the gRPC server's SETTINGS frame
		case closedByPeer(err):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return errors.New("still open")
		default:
			return err
		}
	}
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EPIPE)
}

// TestHTTPIdleKeepAliveClosed: a keep-alive connection left idle after a
// response is closed by the server once QUERY_HTTP_IDLE_TIMEOUT passes.
func TestHTTPIdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_HTTP_IDLE_TIMEOUT": "300ms"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: query\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Close {
		t.Fatalf("response %s, close %v: want 200 on a kept-alive connection", res.Status, res.Close)
	}
	start := time.Now()
	if err := waitClosed(conn, 5*time.Second); err != nil {
		t.Fatalf("idle keep-alive connection: %v after %v", err, time.Since(start))
	}
}

// TestHTTPSlowHeadersCutOff: a client that sends its headers a byte at a
// time is cut off once QUERY_HTTP_READ_HEADER_TIMEOUT has passed since it
// began, however steadily it trickles.
func TestHTTPSlowHeadersCutOff(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_HTTP_READ_HEADER_TIMEOUT": "300ms"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: query\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	buf := make([]byte, 512)
	for {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("a client trickling headers was still connected after %v", time.Since(start))
		}
		if _, err := conn.Write([]byte("a")); err != nil {
			if closedByPeer(err) {
				return
			}
			t.Fatal(err)
		}
		// The read deadline paces the trickle: one byte per 100 ms.
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		switch {
		case n > 0:
			t.Fatalf("server answered incomplete headers: %q", buf[:n])
		case closedByPeer(err):
			return
		case !errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatal(err)
		}
	}
}

// TestGRPCIdleConnectionClosed: a gRPC connection with no calls is closed
// by the server (GOAWAY) once QUERY_GRPC_MAX_CONNECTION_IDLE passes; the
// client's channel leaves READY.
func TestGRPCIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_GRPC_MAX_CONNECTION_IDLE": "300ms"})
	if _, err := healthpb.NewHealthClient(e.conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for st := e.conn.GetState(); st == connectivity.Ready; st = e.conn.GetState() {
		if !e.conn.WaitForStateChange(ctx, st) {
			t.Fatalf("idle gRPC connection still %v after 5s", st)
		}
	}
}

// TestGRPCSilentConnectionCutOff: a TCP connection to the gRPC port that
// never sends the HTTP/2 preface is closed once
// QUERY_GRPC_CONNECTION_TIMEOUT passes.
func TestGRPCSilentConnectionCutOff(t *testing.T) {
	t.Parallel()
	e := startQuery(t, map[string]string{"QUERY_GRPC_CONNECTION_TIMEOUT": "300ms"})
	conn, err := net.Dial("tcp", e.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := waitClosed(conn, 3*time.Second); err != nil {
		t.Fatalf("silent connection: %v", err)
	}
}
